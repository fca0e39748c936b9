"""The production shard layout, defined once.

A shard lives at ``{root}/lang={code}/{shard_id}/`` and holds::

    audio.tar             FLAC members, one per segment (never extracted)
    audio_index.parquet   member name -> byte offset/length inside audio.tar
    manifest.json         counts, totals, sha256 of every shard file and every member
    metadata.parquet      one row per segment: transcript, duration, speaker, domain, ...

Canonical column names live here; a real corpus whose columns are named differently
is read through a ``columns`` mapping in config (canonical name -> name on disk).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

AUDIO_TAR = "audio.tar"
AUDIO_INDEX = "audio_index.parquet"
MANIFEST = "manifest.json"
METADATA = "metadata.parquet"
SHARD_FILES = (AUDIO_TAR, AUDIO_INDEX, MANIFEST, METADATA)

LANG_DIR_PREFIX = "lang="

# 11 Indic languages + English, ISO 639-1 codes, in the order used everywhere.
LANGUAGES = ("as", "bn", "en", "gu", "hi", "kn", "ml", "mr", "or", "pa", "ta", "te")

METADATA_SCHEMA = pa.schema(
    [
        pa.field("segment_id", pa.string(), nullable=False),
        pa.field("transcript", pa.string()),
        pa.field("duration_s", pa.float64()),
        pa.field("speaker_id", pa.string()),
        pa.field("language", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("gender", pa.string()),
        pa.field("sample_rate", pa.int32()),
    ]
)

AUDIO_INDEX_SCHEMA = pa.schema(
    [
        pa.field("segment_id", pa.string(), nullable=False),
        pa.field("member", pa.string(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("nbytes", pa.int64(), nullable=False),
    ]
)

# Columns without which a shard's metadata cannot be used at all.
REQUIRED_METADATA_COLUMNS = ("segment_id", "transcript", "duration_s")


def shard_dir(root: str | Path, lang: str, shard_id: str) -> Path:
    return Path(root) / f"{LANG_DIR_PREFIX}{lang}" / shard_id


def rename_to_canonical(table: pa.Table, columns: Mapping[str, str] | None) -> pa.Table:
    """Rename on-disk column names to canonical ones using a canonical->disk mapping."""
    if not columns:
        return table
    disk_to_canonical = {disk: canon for canon, disk in columns.items()}
    return table.rename_columns([disk_to_canonical.get(n, n) for n in table.column_names])


# The per-shard offset index (results/index/{corpus}/{lang}/{shard}.parquet): every clip seen in a
# shard, tar member joined with its metadata row, plus the QC verdict. Corpora stored as plain
# audio files (LJSpeech, NeMo manifests) use the same schema with member/offset/nbytes null.
INDEX_SCHEMA = pa.schema(
    [
        pa.field("corpus", pa.string()),
        pa.field("shard_id", pa.string()),
        pa.field("language", pa.string()),
        pa.field("segment_id", pa.string()),
        pa.field("transcript", pa.string()),
        pa.field("duration_s", pa.float64()),
        pa.field("speaker_id", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("gender", pa.string()),
        pa.field("audio_path", pa.string()),
        pa.field("member", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("nbytes", pa.int64()),
        pa.field("source_sample_rate", pa.int32()),
        pa.field("source_channels", pa.int32()),
        pa.field("decoded_duration_s", pa.float64()),
        # sha256 of the member's bytes as read (or as manifest.json claims in header-only mode):
        # how qc_summary finds the same audio in two shards.
        pa.field("audio_sha256", pa.string()),
        pa.field("qc_reason", pa.string()),
        pa.field("qc_detail", pa.string()),
    ]
)
