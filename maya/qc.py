"""Shard QC: every clip is kept or quarantined with one reason code, and the counts reconcile.

``clips_in == clips_kept + sum(quarantined_by_reason.values())`` for every shard, language and
corpus. A shard that cannot be read at all is *failed*: its clips (as many as its manifest or
metadata promise) are quarantined under the shard's failure reason, and the workflow goes on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import soundfile as sf
from tqdm import tqdm

from maya.adapters.base import CHECKSUM_MISMATCH_FILE, UNREADABLE_SHARD, Problem, RawClip, ShardScan
from maya.audio.reader import AudioReadError, AudioRef, TarOffsetReader
from maya.config import section_defaults
from maya.names import printable, unsafe_name
from maya.shard_schema import INDEX_SCHEMA, shard_dir
from maya.shard_writer import sha256_file
from maya.text.scripts import SCRIPT_NAMES, script_fraction

log = logging.getLogger(__name__)

# Clip-level reason codes, in the order they are checked (the first that applies is recorded).
CLIP_REASONS = (
    "missing_segment_id",
    "unsafe_name",
    "duplicate_segment_id",
    "duplicate_member",
    "missing_audio",
    "orphan_member",
    "unreadable_row",
    "unsupported_segment",
    "invalid_utf8",
    "empty_transcript",
    "language_mismatch",
    "wrong_script",
    "checksum_mismatch",
    "decode_error",
    "bad_samples",
    "duration_mismatch",
    "too_short",
    "too_long",
    "implausible_text_rate",
)
# What each quarantine reason means, for the report (shard-level failure codes come from the adapters).
REASON_TEXT = {
    "missing_segment_id": "metadata row without a segment id",
    "unsafe_name": "segment id or member name is absolute, has '..', a backslash or a control character",
    "duplicate_segment_id": "segment id repeated within the shard",
    "duplicate_member": "tar member repeated within the shard",
    "missing_audio": "metadata row without a tar member",
    "orphan_member": "tar member without a metadata row",
    "unreadable_row": "a row that cannot be read (not JSON, wrong type)",
    "unsupported_segment": "segment inside a longer file (offsets) not supported",
    "invalid_utf8": "transcript is not UTF-8",
    "empty_transcript": "transcript missing, empty or whitespace",
    "language_mismatch": "row's language differs from the shard's",
    "wrong_script": "too few letters in the language's script (qc.min_script_fraction)",
    "checksum_mismatch": "member sha256 differs from manifest.json",
    "decode_error": "audio does not decode or has no frames",
    "bad_samples": "audio has NaN/infinite samples or is all zeros",
    "duration_mismatch": "decoded duration differs from metadata (qc.duration_tolerance_s)",
    "too_short": "shorter than data.min_duration_s",
    "too_long": "longer than data.max_duration_s",
    "implausible_text_rate": "more transcript characters per second than speech allows (qc.max_chars_per_s)",
    "ambiguous_pairing": "audio_index.parquet and the member names disagree on which audio is the segment's",
    "unreadable_metadata": "the clip's row group of metadata.parquet cannot be read",
    "duplicate_across_shards": "same segment id (same corpus) or same audio bytes as a clip of an earlier shard",
}
HEADER_BYTES = 1 << 16  # enough for FLAC/WAV headers in header-only mode
# Control characters other than whitespace (which is collapsed to single spaces anyway).
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_QC, _DATA = section_defaults("qc"), section_defaults("data")


@dataclass(frozen=True)
class QCSettings:
    """What one shard's QC needs; the defaults are the config schema's (config.qc and data)."""

    decode: bool = _QC["decode"]  # decode every clip; False = headers only, much faster
    checksums: bool = _QC["checksums"]  # verify sha256 of shard files and members against manifest.json
    duration_tolerance_s: float = _QC["duration_tolerance_s"]
    min_script_fraction: float = _QC["min_script_fraction"]
    max_chars_per_s: float = _QC["max_chars_per_s"]
    sample_rate: int = _DATA["sample_rate"]
    min_duration_s: float = _DATA["min_duration_s"]
    max_duration_s: float = _DATA["max_duration_s"]

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> QCSettings:
        """From a validated config's ``qc`` and ``data`` sections (unused keys are ignored)."""
        names = set(cls.__dataclass_fields__)
        merged = {**config.get("data", {}), **config.get("qc", {})}
        return cls(**{k: v for k, v in merged.items() if k in names})


@dataclass
class ShardQC:
    index: pa.Table
    report: dict[str, Any]

    @property
    def quarantine(self) -> pa.Table:
        mask = self.index.column("qc_reason").is_valid()
        return self.index.filter(mask)


def _name(clip: RawClip) -> tuple[str | None, str | None]:
    """(reason, detail) when the clip's segment id or member name could escape a folder."""
    for field, value in (("segment_id", clip.segment_id), ("member", clip.member)):
        why = unsafe_name(value)
        if why:
            where = clip.audio_path or "the metadata"
            return "unsafe_name", f"{field} {printable(value)!r} in {where} {why}"
    return None, None


def _text(
    clip: RawClip, lang: str, settings: QCSettings, repaired: Counter
) -> tuple[str | None, str | None, str | None]:
    """(transcript, reason, detail) for a clip's raw transcript bytes."""
    if clip.transcript is not None and not isinstance(clip.transcript, (bytes, bytearray)):
        return None, "unreadable_row", f"transcript is a {type(clip.transcript).__name__}, expected text"
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
    clean = _INVISIBLE.sub("", text)
    if clean != text:  # NULs and other controls break line-based tools (SentencePiece, JSONL readers)
        repaired["control_characters"] += 1
        text = clean
    text = " ".join(text.split())
    if not text:
        return text, "empty_transcript", "transcript holds only control characters"
    if clip.language is not None and str(clip.language).strip().lower() != lang:
        return text, "language_mismatch", f"metadata language {clip.language!r} in a lang={lang} shard"
    frac = script_fraction(text, lang)
    if frac < settings.min_script_fraction:
        return text, "wrong_script", f"only {frac:.0%} of letters are {SCRIPT_NAMES[lang]}"
    return text, None, None


def _audio(clip: RawClip, reader: TarOffsetReader, settings: QCSettings, repaired: Counter):
    """(decoded_duration, rate, channels, sha256, reason, detail) for a clip's audio."""
    tarred = clip.nbytes is not None
    where = f"{clip.audio_path}:{clip.member}" if tarred else clip.audio_path
    ref = AudioRef(clip.audio_path, clip.offset or 0, clip.nbytes, clip.member or "")
    sha = None
    try:
        if settings.decode or (settings.checksums and clip.expected_sha256):
            data = reader.read_bytes(ref) if tarred else Path(clip.audio_path).read_bytes()
            sha = hashlib.sha256(data).hexdigest()
        else:
            data = (
                reader.read_bytes(AudioRef(ref.path, ref.offset, min(ref.nbytes, HEADER_BYTES), ref.name))
                if tarred
                else None
            )
    except (AudioReadError, OSError, ValueError) as e:
        return None, None, None, None, "decode_error", f"{where}: {e}"
    if settings.checksums and clip.expected_sha256 and sha != clip.expected_sha256:
        return None, None, None, sha, "checksum_mismatch", f"{clip.member}: sha256 differs from manifest.json"
    sha = sha or clip.expected_sha256
    try:
        if settings.decode:
            audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
            frames, channels = audio.shape
        else:
            info = sf.info(io.BytesIO(data)) if data is not None else sf.info(clip.audio_path)
            frames, rate, channels = info.frames, info.samplerate, info.channels
    except Exception as e:
        return None, None, None, sha, "decode_error", f"{where} does not decode ({e})"
    if frames <= 0 or not rate or rate <= 0:
        return 0.0, rate, channels, sha, "decode_error", f"{where}: no audio frames"
    decoded = frames / rate
    if settings.decode:
        finite = np.isfinite(audio)
        if not finite.all():
            bad = int(audio.size - np.count_nonzero(finite))
            return decoded, rate, channels, sha, "bad_samples", f"{where}: {bad} samples are NaN or infinite"
        if not np.any(audio):
            return decoded, rate, channels, sha, "bad_samples", f"{where}: every sample is zero (silence)"
    if rate != settings.sample_rate or channels != 1:
        repaired["resampled"] += 1
    if clip.duration_s is None:
        repaired["duration_from_audio"] += 1
    elif abs(decoded - clip.duration_s) > settings.duration_tolerance_s:
        return (
            decoded,
            rate,
            channels,
            sha,
            "duration_mismatch",
            f"{where} decodes to {decoded:.3f} s, metadata duration_s says {clip.duration_s:.3f} s",
        )
    if decoded < settings.min_duration_s:
        return (
            decoded,
            rate,
            channels,
            sha,
            "too_short",
            f"{where}: {decoded:.3f} s is under data.min_duration_s ({settings.min_duration_s} s)",
        )
    if decoded > settings.max_duration_s:
        return (
            decoded,
            rate,
            channels,
            sha,
            "too_long",
            f"{where}: {decoded:.1f} s is over data.max_duration_s ({settings.max_duration_s} s)",
        )
    return decoded, rate, channels, sha, None, None


def _rate(text: str, seconds: float, settings: QCSettings) -> tuple[str | None, str | None]:
    """A transcript that cannot be spoken in the clip's duration (a misaligned or runaway row)."""
    chars = len(text) - text.count(" ")
    if seconds > 0 and chars / seconds > settings.max_chars_per_s:
        return "implausible_text_rate", (
            f"{chars} characters in {seconds:.2f} s = {chars / seconds:.0f}/s, "
            f"over qc.max_chars_per_s ({settings.max_chars_per_s:g})"
        )
    return None, None


def qc_shard(scan: ShardScan, settings: QCSettings = QCSettings(), reader: TarOffsetReader | None = None) -> ShardQC:
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
        decoded = rate = channels = sha = None
        if reason is None:
            reason, detail = _name(clip)
        if reason is None:
            text, reason, detail = _text(clip, scan.lang, settings, repaired)
        elif isinstance(clip.transcript, (bytes, bytearray)):
            text = clip.transcript.decode("utf-8", "replace")
        if reason is None:
            decoded, rate, channels, sha, reason, detail = _audio(clip, reader, settings, repaired)
        if reason is None:
            reason, detail = _rate(text, decoded, settings)
        rows.append(
            {
                "corpus": scan.corpus,
                "shard_id": scan.shard_id,
                "language": scan.lang,
                "segment_id": clip.segment_id,
                "transcript": text,
                "duration_s": clip.duration_s if clip.duration_s is not None else decoded,
                "speaker_id": None if clip.speaker_id is None else str(clip.speaker_id),
                "domain": clip.domain,
                "gender": clip.gender,
                "audio_path": clip.audio_path,
                "member": clip.member,
                "offset": clip.offset,
                "nbytes": clip.nbytes,
                "source_sample_rate": rate,
                "source_channels": channels,
                "decoded_duration_s": decoded,
                "audio_sha256": sha,
                "qc_reason": reason,
                "qc_detail": detail,
            }
        )
    index = pa.Table.from_pylist(rows, schema=INDEX_SCHEMA)
    report = shard_report(scan, rows, problems, repaired, settings)
    return ShardQC(index, report)


def index_shard(
    fmt: str, corpus: str, root: str, lang: str, shard_id: str, columns: dict[str, str] | None, settings: QCSettings
) -> ShardQC:
    """Scan and QC one shard. Whatever reading the shard raises makes it a *failed* shard
    (``unreadable_shard``, the message naming the shard and the error), never a failed job: one
    bad shard of 3,551 must not stop the run. The traceback goes to the log."""
    from maya.adapters import adapter_for

    adapter = adapter_for(fmt)
    try:
        return qc_shard(adapter.scan(corpus, root, lang, shard_id, columns=columns), settings)
    except Exception as e:
        log.exception("reading shard %s/%s of %s raised", lang, printable(shard_id), root)
        where = shard_dir(root, lang, printable(shard_id)) if fmt == "final_export" else root
        problem = Problem(UNREADABLE_SHARD, f"{where}: {type(e).__name__}: {e}", fatal=True)
        n = adapter.expected_clips(root, lang, shard_id)
        scan = ShardScan(
            corpus,
            lang,
            shard_id,
            problems=[problem],
            clips=[RawClip(f"<clip {i}>", None, None, None) for i in range(n)],
        )
        return qc_shard(scan, settings)


def _seconds(x: float | None) -> float:
    return x if x is not None and math.isfinite(x) and x > 0 else 0.0


def shard_report(
    scan: ShardScan, rows: list[dict], problems, repaired: Counter, settings: QCSettings
) -> dict[str, Any]:
    by_reason = Counter(r["qc_reason"] for r in rows if r["qc_reason"] is not None)
    kept = [r for r in rows if r["qc_reason"] is None]
    failure = scan.failed
    status = "failed" if failure else ("degraded" if problems or by_reason else "ok")
    seconds_in = sum(_seconds(r["decoded_duration_s"] or r["duration_s"]) for r in rows)
    seconds_kept = sum(_seconds(r["decoded_duration_s"] or r["duration_s"]) for r in kept)
    return {
        "corpus": scan.corpus,
        "language": scan.lang,
        "shard_id": scan.shard_id,
        "status": status,
        "failure": None if failure is None else {"code": failure.code, "detail": failure.detail},
        "problems": [{"code": p.code, "detail": p.detail} for p in problems],
        "clips_in": len(rows),
        "clips_kept": len(kept),
        "clips_quarantined": sum(by_reason.values()),
        "quarantined_by_reason": dict(sorted(by_reason.items())),
        "repaired": dict(sorted(repaired.items())),
        "hours_in": round(seconds_in / 3600, 6),
        "hours_kept": round(seconds_kept / 3600, 6),
        "settings": asdict(settings),
    }


# ---------------------------------------------------------------------------------------------
# Aggregation over shards (streams report files: never holds clip rows).


def empty_counts() -> dict[str, Any]:
    return {
        "shards": 0,
        "shards_ok": 0,
        "shards_degraded": 0,
        "shards_failed": 0,
        "clips_in": 0,
        "clips_kept": 0,
        "clips_quarantined": 0,
        "quarantined_by_reason": {},
        "repaired": {},
        "hours_in": 0.0,
        "hours_kept": 0.0,
        "failed_shards": [],
    }


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
    total = empty_counts()
    for rep in reports:
        c = corpora.setdefault(rep["corpus"], {"total": empty_counts(), "languages": {}})
        _add(c["languages"].setdefault(rep["language"], empty_counts()), rep)
        _add(c["total"], rep)
        _add(total, rep)
    for acc in (
        [total]
        + [c["total"] for c in corpora.values()]
        + [lang for c in corpora.values() for lang in c["languages"].values()]
    ):
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
            out.append(
                f"corpus {name!r}: {t['shards_failed']} of {t['shards']} shards failed "
                f"(limit {lim['max_failed_shard_fraction']:.0%}); first: {t['failed_shards'][0]}"
            )
        if t["clips_in"] and t["clips_quarantined"] / t["clips_in"] > lim["max_quarantined_clip_fraction"]:
            out.append(
                f"corpus {name!r}: {t['clips_quarantined']} of {t['clips_in']} clips quarantined "
                f"(limit {lim['max_quarantined_clip_fraction']:.0%}); by reason {t['quarantined_by_reason']}"
            )
    return out
