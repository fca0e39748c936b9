"""Clips that appear in more than one shard: the same segment id twice in a corpus, or the same
audio bytes (sha256) anywhere. The first copy in catalog order is kept; the others are
quarantined as ``duplicate_across_shards``.

At 3,551 shards x 15,000 clips this is a hash join, not a pairwise scan: one pass over the shard
indexes keeps four flat arrays per kept clip (shard number, row, 64-bit id hash, 64-bit audio
hash: 24 bytes a clip, ~1.3 GB at 53M), one sort finds equal hashes, and only the candidates are
read again to compare the real strings, so a hash collision never drops a clip.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

log = logging.getLogger(__name__)

REASON = "duplicate_across_shards"
DUPLICATES_SCHEMA = pa.schema(
    [
        ("corpus", pa.string()),
        ("language", pa.string()),
        ("shard_id", pa.string()),
        ("segment_id", pa.string()),
        ("key", pa.string()),
        ("seconds", pa.float64()),
        ("kept_corpus", pa.string()),
        ("kept_language", pa.string()),
        ("kept_shard_id", pa.string()),
        ("kept_segment_id", pa.string()),
    ]
)
_COLUMNS = ["segment_id", "audio_sha256", "qc_reason", "decoded_duration_s", "duration_s"]


@dataclass(frozen=True)
class ShardIndex:
    corpus: str
    language: str
    shard_id: str
    path: str


_LUT = np.zeros(256, np.uint64)
_LUT[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint64)
_LUT[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16, dtype=np.uint64)
_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)


def _hex64(sha: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(first 64 bits of each hex sha256 as uint64, valid mask); vectorised, no per-row Python."""
    valid = pc.fill_null(pc.equal(pc.utf8_length(sha), 64), False).to_numpy(zero_copy_only=False)
    head = pc.utf8_rpad(pc.utf8_slice_codeunits(sha.fill_null(""), 0, 16), 16, "0")
    fixed = head.cast(pa.binary(16)).combine_chunks()
    nib = _LUT[
        np.frombuffer(fixed.buffers()[1], np.uint8, count=len(fixed) * 16, offset=fixed.offset * 16).reshape(-1, 16)
    ]
    return (nib << _SHIFTS).sum(axis=1, dtype=np.uint64), valid


def _id_hash(corpus: str, seg: pa.ChunkedArray) -> np.ndarray:
    # Salted by corpus: ids are only unique within a corpus.
    salt = int(pd.util.hash_array(np.array([corpus], dtype=object))[0])
    # categorize=False: ids are (nearly) unique, so factorising first only costs time.
    return pd.util.hash_array(seg.to_numpy(zero_copy_only=False), categorize=False) ^ np.uint64(salt)


def find_duplicates(shards: Sequence[ShardIndex]) -> pa.Table:
    """Kept clips of ``shards`` (catalog order) that duplicate an earlier shard's clip."""
    parts = {"shard": [], "row": [], "id": [], "sha": [], "sha_ok": []}
    for n, s in enumerate(tqdm(shards, desc="duplicate scan", unit="shard", disable=None, leave=False)):
        t = pq.read_table(s.path, columns=["segment_id", "audio_sha256", "qc_reason"])
        kept = pc.is_null(t.column("qc_reason")).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(kept).astype(np.int32)
        if not len(rows):
            continue
        t = t.take(pa.array(rows))
        sha, ok = _hex64(t.column("audio_sha256"))
        parts["shard"].append(np.full(len(rows), n, np.int32))
        parts["row"].append(rows)
        parts["id"].append(_id_hash(s.corpus, t.column("segment_id")))
        parts["sha"].append(sha)
        parts["sha_ok"].append(ok)
    if not parts["shard"]:
        return DUPLICATES_SCHEMA.empty_table()
    shard, row = np.concatenate(parts.pop("shard")), np.concatenate(parts.pop("row"))
    candidates = []
    for key in ("segment_id", "audio_sha256"):
        h = np.concatenate(parts.pop("id" if key == "segment_id" else "sha"))
        mask = np.concatenate(parts.pop("sha_ok")) if key == "audio_sha256" else None
        pos = np.arange(len(h)) if mask is None else np.flatnonzero(mask)
        if not len(pos):
            continue
        order = np.argsort(h[pos])
        sorted_h = h[pos][order]
        starts = np.flatnonzero(np.r_[True, sorted_h[1:] != sorted_h[:-1]])
        del sorted_h
        members = pos[order]  # positions grouped by hash; within a group in any order
        # The catalog's first copy of each group is its smallest position (positions follow catalog order).
        first = np.repeat(np.minimum.reduceat(members, starts), np.diff(np.r_[starts, len(members)]))
        dup = (members != first) & (shard[members] != shard[first])
        candidates.append((key, members[dup], first[dup]))
    return _confirm(shards, shard, row, candidates)


def _confirm(shards, shard, row, candidates) -> pa.Table:
    """Compare the real values of hash-equal pairs. Only the shards holding a candidate are read
    again, one at a time, and only the candidates' rows are kept (as Python values)."""
    if not any(len(d) for _, d, _ in candidates):
        return DUPLICATES_SCHEMA.empty_table()
    pos = np.unique(np.concatenate([np.r_[d, f] for _, d, f in candidates]))
    vals: dict[str, dict[int, object]] = {c: {} for c in _COLUMNS}
    for n in np.unique(shard[pos]):
        group = pos[shard[pos] == n]
        t = pq.read_table(shards[int(n)].path, columns=_COLUMNS).take(pa.array(row[group]))
        for c in _COLUMNS:
            vals[c].update(zip(group.tolist(), t.column(c).to_pylist(), strict=True))
    out, seen = [], set()
    for key, dups, firsts in candidates:
        for d, f in zip(dups.tolist(), firsts.tolist(), strict=True):
            s, k = shards[int(shard[d])], shards[int(shard[f])]
            if d in seen or vals[key][d] != vals[key][f] or key == "segment_id" and s.corpus != k.corpus:
                continue
            seen.add(d)
            secs = vals["decoded_duration_s"][d] or vals["duration_s"][d] or 0.0
            out.append(
                {
                    "corpus": s.corpus,
                    "language": s.language,
                    "shard_id": s.shard_id,
                    "segment_id": vals["segment_id"][d],
                    "key": key,
                    "seconds": float(secs),
                    "kept_corpus": k.corpus,
                    "kept_language": k.language,
                    "kept_shard_id": k.shard_id,
                    "kept_segment_id": vals["segment_id"][f],
                }
            )
    return pa.Table.from_pylist(out, schema=DUPLICATES_SCHEMA)


def apply_to_summary_reports(reports: list[dict], dups: pa.Table) -> None:
    """Move duplicate clips from kept to quarantined in the per-shard reports (in place), so the
    summary's counts include the cross-shard verdicts and still reconcile."""
    if dups.num_rows == 0:
        return
    by_shard: dict[tuple[str, str, str], list[float]] = {}
    for r in dups.select(["corpus", "language", "shard_id", "seconds"]).to_pylist():
        by_shard.setdefault((r["corpus"], r["language"], r["shard_id"]), []).append(r["seconds"])
    for rep in reports:
        secs = by_shard.get((rep["corpus"], rep["language"], rep["shard_id"]))
        if not secs:
            continue
        rep["clips_kept"] -= len(secs)
        rep["clips_quarantined"] += len(secs)
        q = dict(rep["quarantined_by_reason"])
        q[REASON] = q.get(REASON, 0) + len(secs)
        rep["quarantined_by_reason"] = dict(sorted(q.items()))
        rep["hours_kept"] = round(max(0.0, rep["hours_kept"] - sum(secs) / 3600), 6)
        if rep["status"] == "ok":
            rep["status"] = "degraded"


def write_duplicates(dups: pa.Table, out_dir: str | Path, corpus_langs: Sequence[tuple[str, str]]) -> None:
    """One Parquet per (corpus, language) under ``out_dir`` (empty ones too: they are outputs)."""
    out_dir = Path(out_dir)
    for corpus, lang in corpus_langs:
        mask = pc.and_(pc.equal(dups.column("corpus"), corpus), pc.equal(dups.column("language"), lang))
        path = out_dir / corpus / f"{lang}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(dups.filter(mask), path)


def drop_duplicates(kept: pa.Table, dups: pa.Table) -> pa.Table:
    """``kept`` rows of one shard without those listed in ``dups`` (matched on shard and id)."""
    if dups.num_rows == 0 or kept.num_rows == 0:
        return kept
    shard_id = kept.column("shard_id")[0].as_py()
    ids = dups.filter(pc.equal(dups.column("shard_id"), shard_id)).column("segment_id")
    if len(ids) == 0:
        return kept
    return kept.filter(pc.invert(pc.is_in(kept.column("segment_id"), value_set=ids.combine_chunks())))
