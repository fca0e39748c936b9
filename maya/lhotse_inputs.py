"""NeMo Lhotse ``input_cfg.yaml`` streaming the train split straight from the ORIGINAL shard tars.

NeMo's ``nemo_tarred`` reader finds shard ids in file names (``manifest*_N*.json``,
``audio*_N*.tar``), which ``lang=hi/shard_00042/audio.tar`` does not match, and by default fails on
a tar member its shard manifest does not list. What works without re-tarring 13 TiB:

- per (corpus, language), shard N gets a symlink ``audio_N.tar`` -> the original ``audio.tar`` and a
  ``manifest_N.jsonl`` listing only that shard's *train* members (``audio_filepath`` = member name,
  ``shard_id`` = N, ``text`` = the normalised transcript the tokenizer was trained on);
- every entry sets ``skip_missing_manifest_entries: true``, so members that are in val/test or
  quarantined are read past (sequential tar read) and never yielded;
- ``manifest_filepath`` / ``tarred_audio_filepaths`` are brace patterns (a YAML list would mean
  several datasets to NeMo), with each entry's balancing ``weight`` and ``tags: {lang, corpus}``.

Clips from file-based corpora (LJSpeech, NeMo manifests) go into a plain ``nemo`` entry instead.
Caveat seen in NeMo 3.0: ``LazyNeMoTarredIterator.to_shards()`` drops the skip flag, so keep
``shard_seed``/shuffling at the defaults that do not call it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from maya.parquet_batches import iter_batches

BATCH_ROWS = 65536
COLUMNS = [
    "corpus",
    "language",
    "shard_id",
    "segment_id",
    "text_norm",
    "audio_path",
    "member",
    "offset",
    "nbytes",
    "duration_s",
    "decoded_duration_s",
    "speaker_id",
]


def _shard_counts(train_parquet: str | Path) -> dict[tuple[str, str], dict[str | None, int]]:
    """Clips per (corpus, language) and tar (``None``: clips stored as files), without rows."""
    counts: dict[tuple[str, str], dict[str | None, int]] = defaultdict(lambda: defaultdict(int))
    for batch in iter_batches(train_parquet, BATCH_ROWS, ["corpus", "language", "audio_path", "member"]):
        t = pa.Table.from_batches([batch])
        tar = pc.if_else(pc.is_valid(t.column("member")), t.column("audio_path"), pa.scalar(None, pa.string()))
        t = pa.table({"corpus": t.column("corpus"), "language": t.column("language"), "tar": tar})
        for r in t.group_by(["corpus", "language", "tar"]).aggregate([([], "count_all")]).to_pylist():
            counts[(r["corpus"], r["language"])][r["tar"]] += r["count_all"]
    return counts


def write_input_cfg(train_parquet: str | Path, weights: Mapping[tuple[str, str], float], out_dir: str | Path) -> Path:
    """Write shard manifests, tar symlinks and ``input_cfg.yaml`` under ``out_dir``. Two passes
    over the split, one record batch at a time: clips per shard, then each shard's lines."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = _shard_counts(train_parquet)
    entries: list[dict[str, Any]] = []
    targets: dict[tuple[str, str, str | None], tuple[Path, int | None]] = {}
    for corpus, lang in sorted(counts):
        weight = float(weights.get((corpus, lang), 0.0))
        if weight <= 0:
            continue
        shards = counts[(corpus, lang)]
        total = sum(shards.values())
        # Absolute paths: NeMo resolves them against its working directory, which need not be ours.
        d = (out_dir / corpus / lang).absolute()
        d.mkdir(parents=True, exist_ok=True)
        for stale in [*d.glob("manifest_*.jsonl"), *d.glob("audio_*.tar")]:
            stale.unlink()
        tars = sorted(p for p in shards if p is not None)
        for i, tar_path in enumerate(tars):
            os.symlink(os.path.abspath(tar_path), d / f"audio_{i}.tar")
            targets[(corpus, lang, tar_path)] = (d / f"manifest_{i}.jsonl", i)
        tags = {"lang": lang, "corpus": corpus}
        if tars:
            n = len(tars) - 1
            entries.append(
                {
                    "type": "nemo_tarred",
                    "manifest_filepath": str(d / f"manifest__OP_0..{n}_CL_.jsonl"),
                    "tarred_audio_filepaths": str(d / f"audio__OP_0..{n}_CL_.tar"),
                    "skip_missing_manifest_entries": True,
                    "weight": weight * sum(shards[p] for p in tars) / total,
                    "tags": tags,
                }
            )
        if None in shards:
            targets[(corpus, lang, None)] = (d / "manifest_files.jsonl", None)
            entries.append(
                {
                    "type": "nemo",
                    "manifest_filepath": str(d / "manifest_files.jsonl"),
                    "weight": weight * shards[None] / total,
                    "tags": tags,
                }
            )
    for path, _ in targets.values():
        path.write_bytes(b"")
    _write_shard_manifests(train_parquet, targets)
    cfg_path = out_dir / "input_cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(entries, sort_keys=False, allow_unicode=True))
    return cfg_path


def _write_shard_manifests(train_parquet: str | Path, targets: Mapping[tuple, tuple[Path, int | None]]) -> None:
    """Append every train clip's NeMo line to its shard's manifest; a batch is grouped by shard
    (stable sort), so each file is opened once per run of its clips."""
    from maya.jsonl import write_lines
    from maya.manifests import nemo_lines

    for batch in iter_batches(train_parquet, BATCH_ROWS, COLUMNS):
        if batch.num_rows == 0:
            continue
        t = pa.Table.from_batches([batch])
        tar = pc.if_else(pc.is_valid(t.column("member")), t.column("audio_path"), pa.scalar(None, pa.string()))
        t = t.append_column("tar", tar)
        t = t.take(pc.sort_indices(t, [("corpus", "ascending"), ("language", "ascending"), ("tar", "ascending")]))
        key = pc.binary_join_element_wise(
            t.column("corpus"), t.column("language"), pc.fill_null(t.column("tar"), ""), "\x1f"
        ).combine_chunks()
        change = pc.not_equal(key.slice(1), key.slice(0, len(key) - 1)).to_numpy(zero_copy_only=False)
        starts = [0, *(np.flatnonzero(change) + 1).tolist()]
        first = t.select(["corpus", "language", "tar"]).take(pa.array(starts, pa.int64())).to_pylist()
        for a, b, k in zip(starts, starts[1:] + [t.num_rows], first, strict=True):
            key = (k["corpus"], k["language"], k["tar"])
            if key not in targets:
                continue  # a language without balancing weight
            path, shard = targets[key]
            run = t.slice(a, b - a)
            audio = run.column("member") if shard is not None else _absolute(run.column("audio_path"))
            with open(path, "ab") as out:
                write_lines(
                    nemo_lines(run, text_field="text_norm", audio_filepath=audio, tar_fields=False, shard_id=shard), out
                )


def _absolute(paths: pa.ChunkedArray) -> pa.Array:
    """Paths made absolute against the working directory (NeMo resolves relative ones elsewhere)."""
    paths = paths.combine_chunks()
    rel = pc.invert(pc.starts_with(paths, "/"))
    return pc.if_else(rel, pc.binary_join_element_wise(os.getcwd(), paths, "/"), paths)
