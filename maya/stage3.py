"""Stage 3's training clips: the cleanest ``top_fraction`` of each language (build guide 4.4).

"Cleanest" from the signals we have, in two passes so the expensive one stays bounded:

1. **Text-rate plausibility** (every train clip, read in batches): characters per second against
   the language's median, as ``|log(rate / median)| / MAD`` of the log rates. Clips far from their
   language's speaking rate are the usual misalignments (truncated audio, wrong transcript).
2. **Stage-1 agreement** (a pool per language): the ``pool_factor x`` quota most plausible clips are
   decoded with the Stage-1 model (CTC greedy) and scored against their reference (CER).

The chosen clips are each language's quota with the lowest CER, ties broken by plausibility. Every
train clip already passed QC (quarantined clips never reach the split).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from maya.parquet_batches import iter_batches, open_parquet

BATCH = 1 << 17


def rate_scores(train_parquet: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per clip (file order): language code, rate deviation; and the language names."""
    codes, rates, langs = [], [], {}
    for b in iter_batches(train_parquet, BATCH, ["language", "text_norm", "duration_s", "decoded_duration_s"]):
        lang = pc.dictionary_encode(b.column("language"))
        local = [langs.setdefault(v, len(langs)) for v in lang.dictionary.to_pylist()]
        codes.append(np.asarray(local, dtype=np.int16)[lang.indices.to_numpy(zero_copy_only=False)])
        chars = (
            pc.utf8_length(pc.replace_substring(pc.fill_null(b.column("text_norm"), ""), " ", ""))
            .to_numpy(zero_copy_only=False)
            .astype(np.float32)
        )
        dur = (
            pc.fill_null(
                pc.coalesce(
                    b.column("decoded_duration_s").cast(pa.float64()), b.column("duration_s").cast(pa.float64())
                ),
                0.0,
            )
            .to_numpy(zero_copy_only=False)
            .astype(np.float32)
        )
        rates.append(np.log(np.maximum(chars, 1) / np.maximum(dur, 0.05)))
    code = np.concatenate(codes) if codes else np.zeros(0, np.int16)
    rate = np.concatenate(rates) if rates else np.zeros(0, np.float32)
    dev = np.full(rate.shape, np.inf, dtype=np.float32)
    for c in range(len(langs)):
        sel = code == c
        med = np.median(rate[sel])
        mad = np.median(np.abs(rate[sel] - med)) or 1e-3
        dev[sel] = np.abs(rate[sel] - med) / mad
    return code, dev, list(langs)


def quotas(code: np.ndarray, n_langs: int, top_fraction: float) -> np.ndarray:
    counts = np.bincount(code, minlength=n_langs)
    return np.array([min(c, max(1, math.ceil(top_fraction * c))) if c else 0 for c in counts])


def pool_rows(code: np.ndarray, dev: np.ndarray, quota: np.ndarray, pool_factor: float) -> np.ndarray:
    """Row numbers of each language's most plausible ``pool_factor x quota`` clips (sorted)."""
    out = []
    for c, q in enumerate(quota):
        rows = np.flatnonzero(code == c)
        k = min(len(rows), int(math.ceil(pool_factor * q)))
        if k:
            out.append(rows[np.argsort(dev[rows], kind="stable")[:k]])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def write_rows(
    src: str | Path, rows: np.ndarray, out: str | Path, extra: Mapping[str, np.ndarray] | None = None
) -> int:
    """The given rows of ``src`` (sorted row numbers) to ``out``, streaming, with extra columns."""
    writer, start, taken = None, 0, 0
    pf = open_parquet(src)
    try:
        for b in pf.iter_batches(batch_size=BATCH):
            lo, hi = np.searchsorted(rows, [start, start + b.num_rows])
            local = rows[lo:hi] - start
            start += b.num_rows
            if not len(local):
                continue
            t = pa.Table.from_batches([b]).take(pa.array(local))
            for name, values in (extra or {}).items():
                t = t.append_column(name, pa.array(values[taken : taken + len(local)]))
            taken += len(local)
            writer = writer or pq.ParquetWriter(str(out), t.schema)
            writer.write_table(t)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        pq.write_table(pf.schema_arrow.empty_table(), str(out))
    return taken


def choose(
    pool_parquet: str | Path, hyps: list[dict], quota_by_lang: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the pool to keep and their CERs: per language the quota with the lowest Stage-1
    CER, ties broken by the rate deviation."""
    from maya.scoring import normalise_for_scoring, utterance_counts

    t = pq.read_table(pool_parquet, columns=["language", "rate_deviation"])  # the pool only: bounded
    lang = t.column("language").to_numpy(zero_copy_only=False)
    dev = t.column("rate_deviation").to_numpy()
    refs = [normalise_for_scoring(h["ref"], h["lang"]) for h in hyps]
    outs = [normalise_for_scoring(h["hyp"], h["lang"]) for h in hyps]
    c = utterance_counts(refs, outs)
    cer = (c[:, 4:7].sum(1) / np.maximum(c[:, 7], 1)).astype(np.float32)
    keep = []
    for name, q in quota_by_lang.items():
        rows = np.flatnonzero(lang == name)
        keep.append(rows[np.lexsort((dev[rows], cer[rows]))[:q]])
    keep = np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)
    return keep, cer
