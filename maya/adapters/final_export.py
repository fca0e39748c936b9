"""The production layout: ``lang={code}/{shard_id}/`` with audio.tar, metadata.parquet,
audio_index.parquet and manifest.json (see :mod:`maya.shard_schema`)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

from maya.adapters import base
from maya.adapters.base import Problem, RawClip, ShardScan
from maya.audio.tar_walk import verify_claimed_layout, walk_tar
from maya.corpus.listing import discover_shards
from maya.names import unsafe_name
from maya.shard_schema import (
    AUDIO_INDEX,
    AUDIO_TAR,
    MANIFEST,
    METADATA,
    REQUIRED_METADATA_COLUMNS,
    rename_to_canonical,
    shard_dir,
)

_OPTIONAL_TEXT = ("speaker_id", "domain", "gender", "language")
MAX_MANIFEST_BYTES = 64 << 20  # the largest manifest.json read; a real one is ~1.5 MB at 15,000 members


def _short(e: BaseException, limit: int = 300) -> str:
    """An exception's message cut to one readable line (a parser may quote megabytes of input)."""
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + "..."


# Dictionary-encoded columns are decoded before these checks (see _column).
def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_bytes(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


AMBIGUOUS_PAIRING = "ambiguous_pairing"
MAX_INDEX_BYTES = 256 << 20  # the largest audio_index.parquet read (optional); a real one is ~1 MB


def _read_row_groups(path: Path) -> tuple[pa.Table, list[tuple[int, int, str]]]:
    """metadata.parquet row group by row group: one unreadable group (a flipped page) costs its own
    rows, not the shard's. Returns the readable rows and (group, rows, error) of each unreadable
    group; raises when the footer or every group is unreadable. Page checksums are verified where
    the writer stored them."""
    pf = pq.ParquetFile(path, page_checksum_verification=True)
    tables, bad = [], []
    for i in range(pf.metadata.num_row_groups):
        try:
            tables.append(pf.read_row_group(i))
        except Exception as e:
            bad.append((i, pf.metadata.row_group(i).num_rows, f"{type(e).__name__}: {_short(e)}"))
    if bad and not tables:
        raise ValueError(f"no row group is readable; row group {bad[0][0]}: {bad[0][2]}")
    return (pa.concat_tables(tables) if tables else pf.schema_arrow.empty_table()), bad


def _pairings(segments, seg_to_member: dict, members: dict, member_for, d: Path, tar_path: Path):
    """Which member holds each segment's audio, and the segments whose pairing contradicts itself.

    The rule: a segment's audio is the member audio_index.parquet names for it, if the tar has that
    member, else the member named after the segment (``{segment_id}.flac``, ...). No guess is made
    where the sources disagree: a segment whose index entry names another member while a member of
    its own name is in the tar, and every segment of a member claimed by several segments, is
    ``ambiguous_pairing`` (both members named). Returns (segment -> member, segment -> (detail,
    members involved))."""
    chosen, own_of = {}, {}
    for seg in segments:
        if seg is None:
            continue
        seg = seg if isinstance(seg, str) else str(seg)
        if seg in chosen:
            continue
        own = member_for(seg, members)
        claimed = seg_to_member.get(seg)
        chosen[seg] = claimed if claimed in members else own
        own_of[seg] = own
    holders: dict[str, list[str]] = {}
    for seg, name in chosen.items():
        if name is not None:
            holders.setdefault(name, []).append(seg)
    ambiguous = {}
    for seg, name in chosen.items():
        own = own_of[seg]
        if name is not None and len(holders[name]) > 1:
            others = [s for s in holders[name] if s != seg][:3]
            involved = {name} | ({own} if own else set())
            ambiguous[seg] = (f"{d / AUDIO_INDEX} pairs {name} with {seg} and with {', '.join(others)}", involved)
        elif name is not None and own is not None and name != own:
            ambiguous[seg] = (
                f"{d / AUDIO_INDEX} pairs {seg} with {name}, but {own} is also in {tar_path}: "
                f"which is {seg}'s audio is ambiguous",
                {name, own},
            )
    return chosen, ambiguous


def _blame_unreadable_rows(scan: ShardScan, bad_groups, meta_path: Path) -> None:
    """Members without a readable row, while some row groups cannot be read, are most likely the
    rows of those groups: they are quarantined as ``unreadable_metadata`` (not ``orphan_member``),
    and rows beyond the orphans are counted as placeholders, so the shard's total stays the
    footer's row count plus the members that truly have no row."""
    groups = ", ".join(str(g) for g, _, _ in bad_groups)
    detail = f"{meta_path}: row group(s) {groups} cannot be read ({bad_groups[0][2]})"
    left = sum(rows for _, rows, _ in bad_groups)
    for clip in scan.clips:
        if left and clip.reason == "orphan_member":
            clip.reason, clip.detail = base.UNREADABLE_METADATA, f"{clip.member}: no readable row; {detail}"
            left -= 1
    for g, rows, _ in bad_groups:
        for j in range(min(rows, left)):
            scan.clips.append(
                RawClip(f"<row group {g} row {j}>", None, None, None, reason=base.UNREADABLE_METADATA, detail=detail)
            )
        left -= min(rows, left)


class ColumnTypeError(ValueError):
    """A column whose type cannot hold the field at all (the message names file and field)."""


def _column(table: pa.Table, name: str, path: Path, problems: list[Problem] | None = None) -> list:
    """One column as Python values of the field's kind; a wrong type is a named problem."""
    if name not in table.column_names:
        return [None] * table.num_rows
    col = table.column(name)
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if name == "transcript":
        # Read text as bytes so invalid UTF-8 reaches QC instead of failing the whole read.
        # string -> binary is a zero-copy cast that does not validate UTF-8.
        if _is_text(t):
            return col.cast(pa.large_binary()).to_pylist()
        if _is_bytes(t):
            return col.to_pylist()
        raise ColumnTypeError(f"{path}: column transcript is {t}, expected string")
    if name in ("duration_s", "offset", "nbytes"):
        return _numbers(col, name, path, problems, integer=name != "duration_s")
    if pa.types.is_nested(t) or _is_bytes(t):
        if name in ("segment_id", "member"):
            raise ColumnTypeError(f"{path}: column {name} is {t}, expected string")
        if problems is not None:
            problems.append(Problem(base.BAD_FIELD, f"{path}: column {name} is {t}, expected string; ignored"))
        return [None] * table.num_rows
    values = col.to_pylist()
    if not _is_text(t):
        values = [None if v is None else str(v) for v in values]
    return values


def _numbers(col, name: str, path: Path, problems: list[Problem] | None, integer: bool) -> list:
    """Finite numbers (NaN, inf, negative and non-numbers become None, counted in ``problems``)."""
    t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or _is_text(t) or _is_bytes(t)):
        if problems is not None:
            problems.append(Problem(base.BAD_FIELD, f"{path}: column {name} is {t}, expected a number; ignored"))
        return [None] * len(col)
    out, bad, first = [], 0, None
    for v in col.to_pylist():
        x = None
        if v is not None and not isinstance(v, bool):
            try:
                x = float(v.decode() if isinstance(v, bytes) else v)
            except (TypeError, ValueError, UnicodeDecodeError):
                x = None
            if x is not None and (not math.isfinite(x) or x < 0 or integer and x != int(x)):
                x = None
            if x is None:
                bad += 1
                first = first if first is not None else v
        out.append(None if x is None else (int(x) if integer else x))
    if bad and problems is not None:
        problems.append(
            Problem(
                base.BAD_FIELD,
                f"{path}: {bad} value(s) of column {name} are not usable "
                f"numbers (e.g. {first!r}); {'taken from the audio' if not integer else 'ignored'}",
            )
        )
    return out


def _json_kind(v) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(v), "number")


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


# manifest.json fields we read: (key, type check, what was expected).
_MANIFEST_FIELDS = (
    ("language", lambda v: isinstance(v, str), "a string"),
    ("num_segments", _is_count, "a non-negative integer"),
    (
        "member_sha256",
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
        "an object of name -> sha256 strings",
    ),
    (
        "files",
        lambda v: isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()),
        "an object of file name -> {sha256, ...}",
    ),
)


class FinalExport:
    format = "final_export"

    def discover(self, root: str, languages: Sequence[str]) -> list[tuple[str, str]]:
        return discover_shards(root, languages)

    # Both run at DAG-build time for every shard: plain strings and os.path, no pathlib.
    # Only audio.tar is a declared input: each declared file costs Snakemake bookkeeping per job
    # (1 instead of 2 took `-n` at 3,551 shards from 6.3 s to 5.2 s); the three small companions
    # are covered by the stat stamp, so editing any of them still reruns the shard.
    def shard_inputs(self, root: str, lang: str, shard_id: str) -> list[str]:
        tar = os.path.join(root, f"lang={lang}", shard_id, AUDIO_TAR)
        return [tar] if os.path.exists(tar) else []

    def shard_stamp(self, root: str, lang: str, shard_id: str) -> str:
        d = os.path.join(root, f"lang={lang}", shard_id)
        return base.stat_stamp([os.path.join(d, n) for n in (METADATA, AUDIO_INDEX, MANIFEST)])

    def expected_clips(self, root: str, lang: str, shard_id: str) -> int:
        d = shard_dir(root, lang, shard_id)
        try:
            return pq.read_metadata(d / METADATA).num_rows
        except Exception:
            pass
        try:
            n = json.loads((d / MANIFEST).read_text("utf-8")).get("num_segments")
            return n if _is_count(n) else 0
        except Exception:
            return 0

    def scan(
        self, corpus: str, root: str, lang: str, shard_id: str, columns: Mapping[str, str] | None = None
    ) -> ShardScan:
        d = shard_dir(root, lang, shard_id)
        scan = ShardScan(corpus, lang, shard_id)
        tar_path = d / AUDIO_TAR
        for required in (tar_path, d / METADATA):
            if not required.is_file():
                scan.problems.append(Problem(base.MISSING_FILE, f"{required} is missing", fatal=True))
        manifest = self._manifest(d, lang, scan)
        if scan.failed:
            self._clips_from_manifest(scan, manifest)
            return scan

        try:
            table, bad_groups = _read_row_groups(d / METADATA)
            meta = rename_to_canonical(table, columns)
        except Exception as e:
            scan.problems.append(
                Problem(base.UNREADABLE_METADATA, f"{d / METADATA}: {type(e).__name__}: {_short(e)}", fatal=True)
            )
            self._clips_from_manifest(scan, manifest)
            return scan
        for group, rows, error in bad_groups:
            scan.problems.append(
                Problem(
                    base.UNREADABLE_METADATA,
                    f"{d / METADATA}: row group {group} ({rows} rows) cannot be read ({error}); "
                    "its clips are quarantined, the other row groups are kept",
                )
            )
        missing = [c for c in REQUIRED_METADATA_COLUMNS if c not in meta.column_names]
        if missing:
            scan.problems.append(
                Problem(
                    base.MISSING_COLUMN,
                    f"{d / METADATA} lacks column(s) {', '.join(missing)} (has {', '.join(meta.column_names)};"
                    " map names with `columns:` in the corpus config)",
                    fatal=True,
                )
            )
            self._clips_from_manifest(scan, manifest, n=meta.num_rows)
            return scan

        audio_index = self._read_audio_index(d, scan)
        claimed = [o for o in audio_index[2] if o is not None] if audio_index else []
        # Fast path: verify the index's claimed layout against the headers in one vectorised pass;
        # any disagreement falls back to the header-by-header walk.
        walk = verify_claimed_layout(tar_path, claimed) or walk_tar(tar_path, header_hints=claimed)
        if walk.error and not walk.members:
            scan.problems.append(Problem(base.UNREADABLE_TAR, f"{tar_path}: {walk.error}", fatal=True))
        elif walk.error:
            scan.problems.append(Problem(base.TRUNCATED_TAR, f"{tar_path}: {walk.error}"))
        for start, resumed, why in walk.damaged:
            scan.problems.append(
                Problem(
                    base.DAMAGED_TAR,
                    f"{tar_path}: {why} at byte {start}; the walk resumed at the next valid header, "
                    f"byte {resumed} (the member in between is lost)",
                )
            )
        if walk.skipped:
            scan.problems.append(
                Problem(base.SKIPPED_MEMBERS, f"{len(walk.skipped)} non-file members, e.g. {walk.skipped[0]}")
            )
        members = {}
        duplicate_members = []
        for m in walk.members:
            if m.name in members:
                duplicate_members.append(m)
            else:
                members[m.name] = m

        seg_to_member = self._check_audio_index(d, audio_index, members, scan)
        member_sha = manifest.get("member_sha256", {}) if manifest else {}

        try:
            columns_ = [
                _column(meta, c, d / METADATA, scan.problems)
                for c in ("segment_id", "transcript", "duration_s", *_OPTIONAL_TEXT)
            ]
        except ColumnTypeError as e:
            scan.problems.append(Problem(base.BAD_COLUMN_TYPE, str(e), fatal=True))
            scan.clips.clear()
            self._clips_from_manifest(scan, manifest, n=meta.num_rows)
            return scan
        chosen, ambiguous = _pairings(columns_[0], seg_to_member, members, self._member_for, d, tar_path)
        used_members: set[str] = {m for why, involved in ambiguous.values() for m in involved}
        if ambiguous:
            first = next(iter(ambiguous.values()))[0]
            scan.problems.append(
                Problem(
                    AMBIGUOUS_PAIRING,
                    f"{len(ambiguous)} segment(s) whose audio is ambiguous, quarantined; e.g. {first}",
                )
            )
        seen_ids: set[str] = set()
        tar_str = str(tar_path)
        clips = scan.clips
        # The hot loop of indexing (15,000 rows a shard): positional construction, local names.
        for i, (seg, text, dur, speaker, domain, gender, lang_) in enumerate(zip(*columns_, strict=True)):
            if seg is not None and not isinstance(seg, str):
                seg = str(seg)
            clip = RawClip(
                seg if seg is not None else f"<row {i}>",
                text,
                dur,
                tar_str,
                None,
                None,
                None,
                lang_,
                speaker,
                domain,
                gender,
            )
            if seg is None:
                clip.reason, clip.detail = "missing_segment_id", f"{d / METADATA} row {i} has no segment_id"
            elif seg in seen_ids:
                clip.reason, clip.detail = "duplicate_segment_id", f"{seg} appears again at row {i} of {d / METADATA}"
            else:
                seen_ids.add(seg)
                name = chosen.get(seg)
                m = members.get(name) if name else None
                if seg in ambiguous:
                    clip.reason, clip.detail = AMBIGUOUS_PAIRING, ambiguous[seg][0]
                    clip.member = name
                elif m is None:
                    clip.reason, clip.detail = "missing_audio", f"no member for {seg} in {tar_path}"
                else:
                    used_members.add(m.name)
                    clip.member, clip.offset, clip.nbytes = m
                    clip.expected_sha256 = member_sha.get(m.name)
            clips.append(clip)

        for m in list(members.values()) + duplicate_members:
            if m.name in used_members and m not in duplicate_members:
                continue
            why = (
                ("duplicate_member", f"{m.name} appears twice in {tar_path}")
                if m in duplicate_members
                else ("orphan_member", f"{m.name} in {tar_path} has no row in {d / METADATA}")
            )
            scan.clips.append(
                RawClip(
                    segment_id=PurePosixPath(m.name).stem,
                    transcript=None,
                    duration_s=None,
                    audio_path=str(tar_path),
                    member=m.name,
                    offset=m.offset,
                    nbytes=m.nbytes,
                    reason=why[0],
                    detail=why[1],
                )
            )

        if bad_groups:
            _blame_unreadable_rows(scan, bad_groups, d / METADATA)
        if manifest:
            n = manifest.get("num_segments")
            if n is not None and n != len(walk.members):
                scan.problems.append(
                    Problem(
                        base.MANIFEST_COUNT_MISMATCH,
                        f"{d / MANIFEST} says {n} segments, {tar_path} holds {len(walk.members)} members",
                    )
                )
            for name, facts in (manifest.get("files") or {}).items():
                if isinstance(facts.get("sha256"), str) and unsafe_name(name) is None and (d / name).is_file():
                    scan.file_checksums.append((str(d / name), facts["sha256"]))
        return scan

    @staticmethod
    def _member_for(segment_id: str, members: dict) -> str | None:
        for suffix in (".flac", ".wav", ".opus", ".ogg", ""):
            if segment_id + suffix in members:
                return segment_id + suffix
        return None

    @staticmethod
    def _manifest(d: Path, lang: str, scan: ShardScan) -> dict | None:
        """manifest.json with every field type-checked: a field of the wrong type is a named
        problem and is left out (the shard's facts come from its tar and metadata anyway)."""
        path = d / MANIFEST
        if not path.is_file():
            scan.problems.append(Problem(base.MANIFEST_MISSING, f"{path} is missing"))
            return None
        # Optional: whatever its parser raises (RecursionError on deep nesting, MemoryError, ...)
        # degrades the shard, never fails it. A real manifest is ~1.5 MB at 15,000 members.
        try:
            size = path.stat().st_size
            if size > MAX_MANIFEST_BYTES:
                raise ValueError(f"{size:,} bytes, over the {MAX_MANIFEST_BYTES:,} this reader accepts; not read")
            manifest = json.loads(path.read_text("utf-8"))
        except Exception as e:
            scan.problems.append(Problem(base.MANIFEST_UNREADABLE, f"{path}: {type(e).__name__}: {_short(e)}"))
            return None
        if not isinstance(manifest, dict):
            scan.problems.append(
                Problem(
                    base.MANIFEST_UNREADABLE, f"{path}: top level is a JSON {_json_kind(manifest)}, expected an object"
                )
            )
            return None
        clean = {}
        for key, ok, expected in _MANIFEST_FIELDS:
            if key not in manifest or manifest[key] is None:
                continue
            if ok(manifest[key]):
                clean[key] = manifest[key]
            else:
                scan.problems.append(
                    Problem(
                        base.BAD_FIELD,
                        f"{path}: field {key} is a JSON {_json_kind(manifest[key])}, expected {expected}; ignored",
                    )
                )
        if clean.get("language") not in (None, lang):
            scan.problems.append(
                Problem(
                    base.MANIFEST_LANGUAGE_MISMATCH,
                    f"{path} says language {clean.get('language')!r}, the shard is under lang={lang}",
                )
            )
        return clean

    @staticmethod
    def _read_audio_index(d: Path, scan: ShardScan) -> list[list] | None:
        """Columns (segment_id, member, offset, nbytes) of audio_index.parquet, if readable."""
        path = d / AUDIO_INDEX
        if not path.is_file():
            return None
        try:
            if path.stat().st_size > MAX_INDEX_BYTES:
                raise ValueError(f"over the {MAX_INDEX_BYTES:,} bytes this reader accepts; not read")
            idx = pq.read_table(path)
            problems: list[Problem] = []
            cols = [_column(idx, c, path, problems) for c in ("segment_id", "member", "offset", "nbytes")]
        except Exception as e:
            scan.problems.append(
                Problem(
                    base.AUDIO_INDEX_MISMATCH,
                    f"{path} unreadable ({type(e).__name__}: {_short(e)}); using the tar walk",
                )
            )
            return None
        if problems:  # an index with unusable offsets is no claim at all: walk the headers
            scan.problems.append(
                Problem(
                    base.AUDIO_INDEX_MISMATCH, f"{problems[0].detail.removesuffix('; ignored')}; using the tar walk"
                )
            )
            return None
        return cols

    @staticmethod
    def _check_audio_index(d: Path, cols: list[list] | None, members: dict, scan: ShardScan) -> dict[str, str]:
        """segment_id -> member from audio_index.parquet, cross-checked against the tar walk
        (the walk wins: the index is a claim, the headers are the facts)."""
        if cols is None:
            return {}
        wrong = 0
        first = None
        out = {}
        for seg, name, offset, nbytes in zip(*cols, strict=True):
            if seg is None or name is None:
                continue
            out[str(seg)] = name
            m = members.get(name)
            if m is not None and (offset, nbytes) != (m.offset, m.nbytes):
                wrong += 1
                first = first or f"{name}: index says ({offset}, {nbytes}), tar has ({m.offset}, {m.nbytes})"
        if wrong:
            scan.problems.append(
                Problem(
                    base.AUDIO_INDEX_MISMATCH,
                    f"{d / AUDIO_INDEX}: {wrong} rows disagree with the tar (using the tar); e.g. {first}",
                )
            )
        return out

    @staticmethod
    def _clips_from_manifest(scan: ShardScan, manifest: dict | None, n: int | None = None) -> None:
        """For a failed shard: count what it was supposed to hold, so nothing vanishes from the totals."""
        problem = scan.failed
        names = sorted((manifest or {}).get("member_sha256", {}))
        if names:
            for name in names:
                scan.clips.append(
                    RawClip(
                        PurePosixPath(name).stem,
                        None,
                        None,
                        None,
                        member=name,
                        reason=problem.code,
                        detail=problem.detail,
                    )
                )
            return
        count = n if n is not None else int((manifest or {}).get("num_segments") or 0)
        for i in range(count):
            scan.clips.append(RawClip(f"<clip {i}>", None, None, None, reason=problem.code, detail=problem.detail))
