"""A NeMo JSON-lines manifest (``audio_filepath``, ``duration``, ``text``, ``lang``); ``root`` is
the manifest file. Relative audio paths are resolved against the manifest's folder. Each language
in the manifest is one shard named ``manifest``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from maya.adapters import base
from maya.adapters.base import Problem, RawClip, ShardScan
from maya.errors import MayaError

SHARD_ID = "manifest"


def _rows(path: Path):
    with open(path, "rb") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                yield i, line


class NemoManifest:
    format = "nemo_manifest"

    def __init__(self, default_lang: str | None = None):
        self.default_lang = default_lang

    def _lang(self, row: dict, languages: Sequence[str]) -> str | None:
        if not isinstance(row, dict):
            return None
        return (
            row.get("lang")
            or row.get("source_lang")
            or self.default_lang
            or (languages[0] if len(languages) == 1 else None)
        )

    def discover(self, root: str, languages: Sequence[str]) -> list[tuple[str, str]]:
        path = Path(root)
        if not path.is_file():
            raise MayaError(f"NeMo manifest {root} does not exist")
        found = set()
        for _, line in _rows(path):
            try:
                lang = self._lang(json.loads(line), languages)
            except ValueError:
                continue  # the scan quarantines it as unreadable_row, naming the line
            if isinstance(lang, str) and lang in languages:
                found.add(lang)
        return sorted((lang, SHARD_ID) for lang in found)

    def shard_inputs(self, root: str, lang: str, shard_id: str) -> list[str]:
        return [root] if Path(root).exists() else []

    def shard_stamp(self, root: str, lang: str, shard_id: str) -> str:
        return base.stat_stamp([root])

    def expected_clips(self, root: str, lang: str, shard_id: str) -> int:
        try:
            with open(root, "rb") as f:
                return sum(1 for line in f if line.strip())
        except OSError:
            return 0

    def scan(
        self, corpus: str, root: str, lang: str, shard_id: str, columns: Mapping[str, str] | None = None
    ) -> ShardScan:
        scan = ShardScan(corpus, lang, shard_id)
        path = Path(root)
        if not path.is_file():
            scan.problems.append(Problem(base.MISSING_FILE, f"{path} is missing", fatal=True))
            return scan
        cols = {"segment_id": "audio_filepath", "transcript": "text", "duration_s": "duration", **(columns or {})}
        for i, line in _rows(path):
            try:
                row = json.loads(line)
            except ValueError as e:
                scan.clips.append(
                    RawClip(f"<line {i}>", None, None, None, reason="unreadable_row", detail=f"{path} line {i}: {e}")
                )
                continue
            if not isinstance(row, dict):
                scan.clips.append(
                    RawClip(
                        f"<line {i}>",
                        None,
                        None,
                        None,
                        reason="unreadable_row",
                        detail=f"{path} line {i}: a JSON {type(row).__name__}, expected an object",
                    )
                )
                continue
            if self._lang(row, [lang]) != lang:
                continue
            audio = row.get("audio_filepath")
            audio = None if audio is None else str(audio)
            audio_path = (
                None if audio is None else str(Path(audio) if Path(audio).is_absolute() else path.parent / audio)
            )
            text = row.get(cols["transcript"])
            clip = RawClip(
                # The audio path is no id (often absolute): its stem is, unless a column names one.
                segment_id=str(
                    row.get(cols["segment_id"])
                    if "segment_id" in (columns or {})
                    else (Path(str(audio)).stem if audio else None) or f"<line {i}>"
                ),
                transcript=None if text is None else str(text).encode("utf-8", "surrogateescape"),
                duration_s=base.as_duration(row.get(cols["duration_s"])),
                audio_path=audio_path,
                language=lang,
                speaker_id=row.get("speaker"),
            )
            if audio_path is None or not Path(audio_path).is_file():
                clip.reason, clip.detail = "missing_audio", f"{path} line {i}: audio {audio_path} does not exist"
            elif row.get("offset"):
                clip.reason = "unsupported_segment"
                clip.detail = f"{path} line {i}: time offsets inside a file are not supported (offset={row['offset']})"
            scan.clips.append(clip)
        return scan
