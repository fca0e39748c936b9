"""LJSpeech layout: ``metadata.csv`` (``id|text|normalized_text``) and ``wavs/{id}.wav`` (22.05 kHz).

The whole corpus is one English shard named ``ljspeech``; audio stays in its files and is
resampled to 16 kHz by the reader.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import soundfile as sf

from maya.adapters import base
from maya.adapters.base import Problem, RawClip, ShardScan
from maya.errors import MayaError

SHARD_ID = "ljspeech"
LANG = "en"


class LJSpeech:
    format = "ljspeech"

    def discover(self, root: str, languages: Sequence[str]) -> list[tuple[str, str]]:
        if not (Path(root) / "metadata.csv").is_file():
            raise MayaError(f"LJSpeech corpus at {root}: no metadata.csv")
        return [(LANG, SHARD_ID)] if LANG in languages else []

    def shard_inputs(self, root: str, lang: str, shard_id: str) -> list[str]:
        p = Path(root) / "metadata.csv"
        return [str(p)] if p.exists() else []

    def shard_stamp(self, root: str, lang: str, shard_id: str) -> str:
        wavs = Path(root) / "wavs"
        names = sorted(os.listdir(wavs)) if wavs.is_dir() else []
        return base.stat_stamp([wavs / n for n in names])

    def expected_clips(self, root: str, lang: str, shard_id: str) -> int:
        try:
            with open(Path(root) / "metadata.csv", "rb") as f:
                return sum(1 for line in f if line.strip())
        except OSError:
            return 0

    def scan(
        self, corpus: str, root: str, lang: str, shard_id: str, columns: Mapping[str, str] | None = None
    ) -> ShardScan:
        scan = ShardScan(corpus, lang, shard_id)
        meta = Path(root) / "metadata.csv"
        if not meta.is_file():
            scan.problems.append(Problem(base.MISSING_FILE, f"{meta} is missing", fatal=True))
            return scan
        with open(meta, "rb") as f:
            lines = f.read().split(b"\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            parts = line.rstrip(b"\r").split(b"|")
            seg = parts[0].decode("utf-8", "replace")
            text = parts[2] if len(parts) > 2 and parts[2].strip() else (parts[1] if len(parts) > 1 else None)
            wav = Path(root) / "wavs" / f"{seg}.wav"
            clip = RawClip(seg, text, None, str(wav), language=LANG, speaker_id=f"{corpus}_spk")
            if not wav.is_file():
                clip.reason, clip.detail = "missing_audio", f"{wav} (row {i + 1} of {meta}) does not exist"
            else:
                try:
                    info = sf.info(str(wav))
                    clip.duration_s = info.frames / info.samplerate
                except Exception as e:
                    clip.reason, clip.detail = "decode_error", f"{wav}: {e}"
            scan.clips.append(clip)
        return scan
