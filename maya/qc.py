"""Shard QC: every clip is kept or quarantined with one reason code, and the counts reconcile.

``clips_in == clips_kept + sum(quarantined_by_reason.values())`` for every shard, language and
corpus. A shard that cannot be read at all is *failed*: its clips (as many as its manifest or
metadata promise) are quarantined under the shard's failure reason, and the workflow goes on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import pyarrow as pa
import soundfile as sf
from tqdm import tqdm

from maya.adapters.base import CHECKSUM_MISMATCH_FILE, Problem, RawClip, ShardScan
from maya.audio.reader import AudioReadError, AudioRef, TarOffsetReader
from maya.shard_schema import INDEX_SCHEMA
from maya.shard_writer import sha256_file
from maya.text.scripts import SCRIPT_NAMES, script_fraction

log = logging.getLogger(__name__)

# Clip-level reason codes, in the order they are checked (the first that applies is recorded).
CLIP_REASONS = (
    "missing_segment_id", "duplicate_segment_id", "duplicate_member", "missing_audio", "orphan_member",
    "unreadable_row", "unsupported_segment", "invalid_utf8", "empty_transcript", "language_mismatch",
    "wrong_script", "checksum_mismatch", "decode_error", "duration_mismatch",
)
HEADER_BYTES = 1 << 16  # enough for FLAC/WAV headers in header-only mode


@dataclass(frozen=True)
class QCSettings:
    decode: bool = True  # decode every clip (default); False = headers only, much faster
    checksums: bool = True  # verify sha256 of shard files and members against manifest.json
    duration_tolerance_s: float = 0.1
    min_script_fraction: float = 0.5
    sample_rate: int = 16000


@dataclass
class ShardQC:
    index: pa.Table
    report: dict[str, Any]

    @property
    def quarantine(self) -> pa.Table:
        mask = self.index.column("qc_reason").is_valid()
        return self.index.filter(mask)


def _text(clip: RawClip, lang: str, settings: QCSettings, repaired: Counter) -> tuple[str | None, str | None, str | None]:
    """(transcript, reason, detail) for a clip's raw transcript bytes."""
    if clip.transcript is None:
        return None, "empty_transcript", "transcript is missing"
    try:
        text = clip.transcript.decode("utf-8")
    except UnicodeDecodeError as e:
        return clip.transcript.decode("utf-8", "replace"), "invalid_utf8", f"not UTF-8 ({e.reason} at byte {e.start})"
    if not text.strip():
        return text, "empty_transcript", "transcript is empty or whitespace"
    nfc = unicodedata.normalize("NFC", text)
    if nfc != text:
        repaired["nfc"] += 1
        text = nfc
    text = " ".join(text.split())
    if clip.language is not None and str(clip.language).strip().lower() != lang:
        return text, "language_mismatch", f"metadata language {clip.language!r} in a lang={lang} shard"
    frac = script_fraction(text, lang)
    if frac < settings.min_script_fraction:
        return text, "wrong_script", f"only {frac:.0%} of letters are {SCRIPT_NAMES[lang]}"
    return text, None, None


def _audio(clip: RawClip, reader: TarOffsetReader, settings: QCSettings, repaired: Counter):
    """(decoded_duration, rate, channels, reason, detail) for a clip's audio."""
    tarred = clip.nbytes is not None
    ref = AudioRef(clip.audio_path, clip.offset or 0, clip.nbytes, clip.member or "")
    try:
        if settings.decode or (settings.checksums and clip.expected_sha256):
            data = reader.read_bytes(ref) if tarred else open(clip.audio_path, "rb").read()
        else:
            data = reader.read_bytes(AudioRef(ref.path, ref.offset, min(ref.nbytes, HEADER_BYTES), ref.name)) \
                if tarred else None
    except (AudioReadError, OSError) as e:
        return None, None, None, "decode_error", str(e)
    if settings.checksums and clip.expected_sha256 and hashlib.sha256(data).hexdigest() != clip.expected_sha256:
        return None, None, None, "checksum_mismatch", f"{clip.member}: sha256 differs from manifest.json"
    try:
        if settings.decode:
            audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
            frames, channels = audio.shape
        else:
            info = sf.info(io.BytesIO(data)) if data is not None else sf.info(clip.audio_path)
            frames, rate, channels = info.frames, info.samplerate, info.channels
    except Exception as e:
        where = f"{clip.audio_path}:{clip.member}" if tarred else clip.audio_path
        return None, None, None, "decode_error", f"{where} does not decode ({e})"
    if frames <= 0:
        return 0.0, rate, channels, "decode_error", "no audio frames"
    decoded = frames / rate
    if rate != settings.sample_rate or channels != 1:
        repaired["resampled"] += 1
    if clip.duration_s is not None and abs(decoded - clip.duration_s) > settings.duration_tolerance_s:
        return decoded, rate, channels, "duration_mismatch", \
            f"decodes to {decoded:.3f} s, metadata says {clip.duration_s:.3f} s"
    return decoded, rate, channels, None, None


def qc_shard(scan: ShardScan, settings: QCSettings = QCSettings(),
             reader: TarOffsetReader | None = None) -> ShardQC:
    """Judge every clip of a scanned shard; returns the offset index (with verdicts) and a report."""
    reader = reader or TarOffsetReader(settings.sample_rate)
    repaired: Counter = Counter()
    problems = list(scan.problems)
    if settings.checksums and not scan.failed:
        for path, expected in scan.file_checksums:
            if sha256_file(path) != expected:
                problems.append(Problem(CHECKSUM_MISMATCH_FILE, f"{path}: sha256 differs from manifest.json"))
    failure = scan.failed
    rows: list[dict[str, Any]] = []
    for clip in tqdm(scan.clips, desc=f"qc {scan.lang}/{scan.shard_id}", unit="clip", disable=None, leave=False):
        text, reason, detail = None, clip.reason, clip.detail
        if failure is not None:  # a failed shard quarantines everything under its own reason
            reason, detail = failure.code, failure.detail
        decoded = rate = channels = None
        if reason is None:
            text, reason, detail = _text(clip, scan.lang, settings, repaired)
        elif clip.transcript is not None:
            text = clip.transcript.decode("utf-8", "replace")
        if reason is None:
            decoded, rate, channels, reason, detail = _audio(clip, reader, settings, repaired)
        rows.append({
            "corpus": scan.corpus, "shard_id": scan.shard_id, "language": scan.lang,
            "segment_id": clip.segment_id, "transcript": text,
            "duration_s": clip.duration_s if clip.duration_s is not None else decoded,
            "speaker_id": None if clip.speaker_id is None else str(clip.speaker_id),
            "domain": clip.domain, "gender": clip.gender, "audio_path": clip.audio_path,
            "member": clip.member, "offset": clip.offset, "nbytes": clip.nbytes,
            "source_sample_rate": rate, "source_channels": channels, "decoded_duration_s": decoded,
            "qc_reason": reason, "qc_detail": detail,
        })
    index = pa.Table.from_pylist(rows, schema=INDEX_SCHEMA)
    report = shard_report(scan, rows, problems, repaired, settings)
    return ShardQC(index, report)


def shard_report(scan: ShardScan, rows: list[dict], problems, repaired: Counter,
                 settings: QCSettings) -> dict[str, Any]:
    by_reason = Counter(r["qc_reason"] for r in rows if r["qc_reason"] is not None)
    kept = [r for r in rows if r["qc_reason"] is None]
    failure = scan.failed
    status = "failed" if failure else ("degraded" if problems or by_reason else "ok")
    seconds_in = sum(r["duration_s"] or 0.0 for r in rows)
    seconds_kept = sum((r["decoded_duration_s"] or r["duration_s"] or 0.0) for r in kept)
    return {
        "corpus": scan.corpus, "language": scan.lang, "shard_id": scan.shard_id, "status": status,
        "failure": None if failure is None else {"code": failure.code, "detail": failure.detail},
        "problems": [{"code": p.code, "detail": p.detail} for p in problems],
        "clips_in": len(rows), "clips_kept": len(kept), "clips_quarantined": sum(by_reason.values()),
        "quarantined_by_reason": dict(sorted(by_reason.items())),
        "repaired": dict(sorted(repaired.items())),
        "hours_in": round(seconds_in / 3600, 6), "hours_kept": round(seconds_kept / 3600, 6),
        "settings": asdict(settings),
    }


# ---------------------------------------------------------------------------------------------
# Aggregation over shards (streams report files: never holds clip rows).

def _empty_counts() -> dict[str, Any]:
    return {"shards": 0, "shards_ok": 0, "shards_degraded": 0, "shards_failed": 0, "clips_in": 0,
            "clips_kept": 0, "clips_quarantined": 0, "quarantined_by_reason": {}, "repaired": {},
            "hours_in": 0.0, "hours_kept": 0.0, "failed_shards": []}


def _add(acc: dict[str, Any], rep: dict[str, Any]) -> None:
    acc["shards"] += 1
    acc[f"shards_{rep['status']}"] += 1
    for k in ("clips_in", "clips_kept", "clips_quarantined", "hours_in", "hours_kept"):
        acc[k] += rep[k]
    for k in ("quarantined_by_reason", "repaired"):
        for reason, n in rep[k].items():
            acc[k][reason] = acc[k].get(reason, 0) + n
    if rep["status"] == "failed":
        acc["failed_shards"].append({"language": rep["language"], "shard_id": rep["shard_id"], **rep["failure"]})


def summarise(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per corpus and language: shards ok/degraded/failed, clips in/kept/quarantined by reason, hours."""
    corpora: dict[str, dict[str, Any]] = {}
    total = _empty_counts()
    for rep in reports:
        c = corpora.setdefault(rep["corpus"], {"total": _empty_counts(), "languages": {}})
        _add(c["languages"].setdefault(rep["language"], _empty_counts()), rep)
        _add(c["total"], rep)
        _add(total, rep)
    for acc in [total] + [c["total"] for c in corpora.values()] + \
            [lang for c in corpora.values() for lang in c["languages"].values()]:
        acc["hours_in"] = round(acc["hours_in"], 4)
        acc["hours_kept"] = round(acc["hours_kept"], 4)
        acc["quarantined_by_reason"] = dict(sorted(acc["quarantined_by_reason"].items()))
        assert acc["clips_in"] == acc["clips_kept"] + sum(acc["quarantined_by_reason"].values())
    for c in corpora.values():
        c["languages"] = dict(sorted(c["languages"].items()))
    return {"total": total, "corpora": dict(sorted(corpora.items()))}


def threshold_violations(summary: dict[str, Any], limits: dict[str, dict[str, float]]) -> list[str]:
    """Corpora whose failed-shard or quarantined-clip share exceeds its limits."""
    out = []
    for name, c in summary["corpora"].items():
        t, lim = c["total"], limits[name]
        if t["shards"] and t["shards_failed"] / t["shards"] > lim["max_failed_shard_fraction"]:
            out.append(f"corpus {name!r}: {t['shards_failed']} of {t['shards']} shards failed "
                       f"(limit {lim['max_failed_shard_fraction']:.0%}); first: {t['failed_shards'][0]}")
        if t["clips_in"] and t["clips_quarantined"] / t["clips_in"] > lim["max_quarantined_clip_fraction"]:
            out.append(f"corpus {name!r}: {t['clips_quarantined']} of {t['clips_in']} clips quarantined "
                       f"(limit {lim['max_quarantined_clip_fraction']:.0%}); by reason {t['quarantined_by_reason']}")
    return out
