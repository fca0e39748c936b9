"""What every corpus format provides: shard discovery and a raw scan of one shard.

A *scan* lists every clip a shard holds, with where its audio lives and its raw metadata, plus
the shard-level problems the format can see. It judges nothing: QC (:mod:`maya.qc`) decides which
clips are kept. Adding a format is one module with a class implementing :class:`CorpusAdapter`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# Shard-level problems. `fatal` ones make the whole shard unusable (status "failed").
MISSING_FILE = "missing_file"
UNREADABLE_METADATA = "unreadable_metadata"
MISSING_COLUMN = "missing_column"
UNREADABLE_TAR = "unreadable_tar"
TRUNCATED_TAR = "truncated_tar"
DAMAGED_TAR = "damaged_tar_header"  # a corrupt header stepped over: that member is lost, the rest kept
AUDIO_INDEX_MISMATCH = "audio_index_mismatch"
MANIFEST_MISSING = "manifest_missing"
MANIFEST_UNREADABLE = "manifest_unreadable"
MANIFEST_COUNT_MISMATCH = "manifest_count_mismatch"
MANIFEST_LANGUAGE_MISMATCH = "manifest_language_mismatch"
CHECKSUM_MISMATCH_FILE = "file_checksum_mismatch"
SKIPPED_MEMBERS = "skipped_non_file_members"
BAD_FIELD = "bad_field"  # a field of the wrong type or an unusable value: named, ignored
BAD_COLUMN_TYPE = "bad_column_type"  # a required metadata column of a type that cannot hold it
UNREADABLE_SHARD = "unreadable_shard"  # reading the shard raised: the message names file and error


@dataclass(frozen=True)
class Problem:
    code: str
    detail: str
    fatal: bool = False


@dataclass(slots=True)
class RawClip:
    """One clip as found on disk, before any judgement."""

    segment_id: str
    transcript: bytes | None  # raw bytes: UTF-8 validity is a QC question
    duration_s: float | None
    audio_path: str | None
    member: str | None = None
    offset: int | None = None
    nbytes: int | None = None
    language: str | None = None
    speaker_id: str | None = None
    domain: str | None = None
    gender: str | None = None
    expected_sha256: str | None = None
    # Reason the format itself already knows this clip cannot be used (missing audio, ...).
    reason: str | None = None
    detail: str | None = None


@dataclass
class ShardScan:
    corpus: str
    lang: str
    shard_id: str
    clips: list[RawClip] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Whole-file checksums to verify when QC is asked to: (path, expected sha256).
    file_checksums: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> Problem | None:
        return next((p for p in self.problems if p.fatal), None)


class CorpusAdapter(Protocol):
    format: str

    def discover(self, root: str, languages: Sequence[str]) -> list[tuple[str, str]]:
        """(lang, shard_id) of every shard under ``root`` for ``languages``."""

    def shard_inputs(self, root: str, lang: str, shard_id: str) -> list[str]:
        """Files that, when changed, must rerun this shard's indexing (only ones that exist)."""

    def shard_stamp(self, root: str, lang: str, shard_id: str) -> str:
        """A cheap fingerprint (names, sizes, mtimes) of the shard's other files."""

    def scan(
        self, corpus: str, root: str, lang: str, shard_id: str, columns: Mapping[str, str] | None = None
    ) -> ShardScan:
        """Every clip of the shard, with audio location and raw metadata."""

    def expected_clips(self, root: str, lang: str, shard_id: str) -> int:
        """How many clips the shard claims to hold, read as cheaply and defensively as possible;
        used to count a shard whose scan raised (0 when even that is unknown)."""


def as_duration(v: Any) -> float | None:
    """A finite, non-negative number of seconds, or None (then QC takes it from the audio)."""
    import math

    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x >= 0 else None


def stat_stamp(paths: Sequence[str | Path]) -> str:
    """'name:size:mtime_ns' of each path that exists, '-' for missing ones; cheap at DAG time."""
    parts = []
    for p in paths:
        name = os.path.basename(p)
        try:
            st = os.stat(p)
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{name}:-")
    return ";".join(parts)
