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


# Dictionary-encoded columns are decoded before these checks (see _column).
def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_bytes(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


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
            meta = rename_to_canonical(pq.read_table(d / METADATA), columns)
        except Exception as e:
            scan.problems.append(Problem(base.UNREADABLE_METADATA, f"{d / METADATA}: {e}", fatal=True))
            self._clips_from_manifest(scan, manifest)
            return scan
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
        used_members: set[str] = set()
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
                name = seg_to_member.get(seg) or self._member_for(seg, members)
                m = members.get(name) if name else None
                if m is None:
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
        try:
            manifest = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as e:
            scan.problems.append(Problem(base.MANIFEST_UNREADABLE, f"{path}: {e}"))
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
            idx = pq.read_table(path)
            problems: list[Problem] = []
            cols = [_column(idx, c, path, problems) for c in ("segment_id", "member", "offset", "nbytes")]
        except Exception as e:
            scan.problems.append(Problem(base.AUDIO_INDEX_MISMATCH, f"{path} unreadable ({e}); using the tar walk"))
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
