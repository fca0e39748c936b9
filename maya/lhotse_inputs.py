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

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

import pyarrow.parquet as pq
import yaml

from maya.manifests import nemo_entry

COLUMNS = ["corpus", "language", "shard_id", "segment_id", "text_norm", "audio_path", "member",
           "offset", "nbytes", "duration_s", "decoded_duration_s", "speaker_id"]


def write_input_cfg(train_parquet: str | Path, weights: Mapping[tuple[str, str], float],
                    out_dir: str | Path) -> Path:
    """Write shard manifests, tar symlinks and ``input_cfg.yaml`` under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = pq.read_table(train_parquet, columns=COLUMNS).to_pylist()
    groups: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        groups[(r["corpus"], r["language"])][r["audio_path"]].append(r)
    entries: list[dict[str, Any]] = []
    for (corpus, lang) in sorted(groups):
        weight = float(weights.get((corpus, lang), 0.0))
        if weight <= 0:
            continue
        shards = groups[(corpus, lang)]
        # Absolute paths: NeMo resolves them against its working directory, which need not be ours.
        d = (out_dir / corpus / lang).absolute()
        d.mkdir(parents=True, exist_ok=True)
        tarred = {p: rs for p, rs in shards.items() if rs[0]["member"] is not None}
        files = [r for p, rs in shards.items() if rs[0]["member"] is None for r in rs]
        for i, tar_path in enumerate(sorted(tarred)):
            link = d / f"audio_{i}.tar"
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(os.path.abspath(tar_path), link)
            with open(d / f"manifest_{i}.jsonl", "w", encoding="utf-8") as f:
                for r in tarred[tar_path]:
                    f.write(json.dumps(_entry(r, audio=r["member"], shard_id=i), ensure_ascii=False) + "\n")
        tags = {"lang": lang, "corpus": corpus}
        if tarred:
            n = len(tarred) - 1
            entries.append({
                "type": "nemo_tarred",
                "manifest_filepath": str(d / f"manifest__OP_0..{n}_CL_.jsonl"),
                "tarred_audio_filepaths": str(d / f"audio__OP_0..{n}_CL_.tar"),
                "skip_missing_manifest_entries": True,
                "weight": weight * len([r for rs in tarred.values() for r in rs]) / max(1, sum(len(rs) for rs in shards.values())),
                "tags": tags,
            })
        if files:
            path = d / "manifest_files.jsonl"
            with open(path, "w", encoding="utf-8") as f:
                for r in files:
                    f.write(json.dumps(_entry(r, audio=os.path.abspath(r["audio_path"])), ensure_ascii=False) + "\n")
            entries.append({"type": "nemo", "manifest_filepath": str(path),
                            "weight": weight * len(files) / sum(len(rs) for rs in shards.values()), "tags": tags})
    cfg_path = out_dir / "input_cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(entries, sort_keys=False, allow_unicode=True))
    return cfg_path


def _entry(r: dict, audio: str, shard_id: int | None = None) -> dict:
    """NeMo entry with the normalised text; in a tarred manifest ``shard_id`` is the tar's N."""
    e = nemo_entry(r, text_field="text_norm", audio_filepath=audio, tar_fields=False)
    if shard_id is not None:
        e["shard_id"] = shard_id
    return e
