"""Batching artifacts the Stage-1 sampler reads: per-clip token counts and duration bins.

- the train split's clip table (``maya.clip_table``): token ids and ``num_tokens`` for every train
  clip, from the Stage-1 tokenizer (the joint tensor is
  B x T x U x (V+1+durations), and U is the token count, so the sampler caps tokens, not only audio).
- 1-D buckets on the configured edges (seed README: 0-4-8-12-16-20 s) with clip counts and hours.
- 2-D bins like NeMo's ``scripts/speech_recognition/estimate_duration_bins_2d.py``: duration bins
  of equal total audio (lhotse's ``estimate_duration_buckets``), each split into sub-bins of equal
  clips by output tokens; every bin is ``[max_duration_s, max_tokens]`` (NeMo's
  ``bucket_duration_bins`` 2-D format), with ``bucket_batch_size`` per bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maya.clip_table import ClipTable, SentencePieceEncoder, write_clip_table


def write_train_clips(train_parquet: str | Path, tokenizer_dir: str | Path, out_path: str | Path) -> ClipTable:
    """The train split's clip table with token ids under the Stage-1 tokenizer."""
    encode = SentencePieceEncoder(Path(tokenizer_dir) / "tokenizer.model")
    write_clip_table(train_parquet, out_path, encode, encode.vocab_size)
    return ClipTable(out_path)


def bucket_table(durations: np.ndarray, edges: Sequence[float]) -> list[dict]:
    edges = list(edges)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (durations >= lo) & (durations < hi)
        rows.append(
            {"min_s": lo, "max_s": hi, "clips": int(sel.sum()), "hours": round(float(durations[sel].sum()) / 3600, 4)}
        )
    over = durations >= edges[-1]
    rows.append(
        {
            "min_s": edges[-1],
            "max_s": None,
            "clips": int(over.sum()),
            "hours": round(float(durations[over].sum()) / 3600, 4),
        }
    )
    return rows


def equal_duration_starts(durations: np.ndarray, num_buckets: int) -> list[float]:
    """Lhotse's ``estimate_duration_buckets`` (what NeMo's ``estimate_duration_bins_2d.py`` calls):
    the durations that start buckets 2..N, each bucket holding about 1/N of the total audio. Lhotse
    walks every clip in Python; here each bucket is one ``searchsorted`` on the cumulative sum."""
    sizes = np.sort(np.asarray(durations, dtype=np.float64))
    cum = np.concatenate([[0.0], np.cumsum(sizes)])
    per_bucket = cum[-1] / num_buckets
    starts, i = [], 0
    while True:  # lhotse: a bucket ends before the first clip at which its total exceeds per_bucket
        j = int(np.searchsorted(cum, cum[i] + per_bucket, side="right"))
        if j >= len(sizes):
            return starts
        starts.append(float(sizes[j]))
        i = j


def estimate_bins_2d(
    durations: np.ndarray, tokens: np.ndarray, num_buckets: int, num_subbuckets: int
) -> list[list[float]]:
    """NeMo's 2-D bins: equal-duration buckets (lhotse), each split into sub-buckets of equal clip
    counts by output tokens: ``[[max_dur, max_tok], ...]``."""
    if len(durations) == 0:
        return []
    durations = np.asarray(durations, dtype=np.float64)
    starts = equal_duration_starts(durations, num_buckets) if num_buckets > 1 else []
    bucket = np.searchsorted(np.asarray(starts), durations, side="right")
    bins = []
    for b in range(len(starts) + 1):
        sel = bucket == b
        if not sel.any():
            continue
        max_dur = starts[b] if b < len(starts) else float(durations.max())
        toks = np.sort(tokens[sel])
        for sub in np.array_split(toks, min(num_subbuckets, len(toks))):
            if len(sub):
                bins.append([round(max_dur, 3), int(sub.max())])
    return bins


def bucket_batch_sizes(
    bins: Sequence[Sequence[float]], model: dict, n_params: int, vocab: int, budget_gb: float, limit: int = 4096
) -> list[int]:
    """NeMo's ``bucket_batch_size`` for 2-D ``bins``: per bin, the largest batch of its longest,
    most-tokens clips whose predicted peak (``maya.stage1.memory``: weights and optimizer,
    Conformer activations, the TDT joint) fits ``budget_gb`` — what NeMo's OOMptimizer measures on
    a GPU, predicted here without one. At least 1 (a clip alone over the budget still trains)."""
    from maya.stage1.memory import predicted_peak_gb

    out = []
    for max_dur, max_tok in bins:
        frames = int(max_dur / FRAME_SHIFT_S / model["subsampling_factor"]) + 1
        lo, hi = 1, limit  # predicted peak grows with the batch: bisect for the last fit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if predicted_peak_gb(model, n_params, vocab, mid, frames, max_tok) <= budget_gb:
                lo = mid
            else:
                hi = mid - 1
        out.append(lo)
    return out


FRAME_SHIFT_S = 0.01  # the Stage-1 preprocessor's window_stride
# Beyond one token per encoder frame neither CTC (a frame per token, plus blanks between repeats)
# nor a transducer can align a transcript; well before it, training is starved.
MAX_ALIGNABLE_TOKENS_PER_FRAME = 1.0
WARN_TOKENS_PER_FRAME = 0.5


def encoder_frames(durations: np.ndarray, subsampling_factor: int) -> np.ndarray:
    """Encoder output frames for clips of ``durations`` seconds (10 ms hop, then subsampling)."""
    return np.ceil(np.asarray(durations, float) / FRAME_SHIFT_S / subsampling_factor).astype(np.int64)


def alignable(durations: np.ndarray, tokens: np.ndarray, subsampling_factor: int) -> np.ndarray:
    """Mask of clips whose token count fits the encoder frames (CTC/TDT can align them)."""
    return tokens <= MAX_ALIGNABLE_TOKENS_PER_FRAME * encoder_frames(durations, subsampling_factor)


def tokens_per_frame(
    languages: np.ndarray, names: Sequence[str], durations: np.ndarray, tokens: np.ndarray, subsampling_factor: int
) -> dict:
    """Per language: the distribution of tokens per encoder frame, and how many clips cannot be
    aligned (more tokens than frames) or are starved (over WARN_TOKENS_PER_FRAME). ``languages``
    holds codes into ``names``."""
    ratio = tokens / np.maximum(1, encoder_frames(durations, subsampling_factor))
    out = {}
    for code in np.unique(languages):
        r = ratio[languages == code]
        out[str(names[code])] = {
            "clips": int(len(r)),
            "p50": round(float(np.median(r)), 3),
            "p95": round(float(np.percentile(r, 95)), 3),
            "max": round(float(r.max()), 3),
            "over_warn": int((r > WARN_TOKENS_PER_FRAME).sum()),
            "unalignable": int((r > MAX_ALIGNABLE_TOKENS_PER_FRAME).sum()),
        }
    return out


def tokens_per_frame_warnings(report: dict) -> list[str]:
    out = []
    for lang, v in report.items():
        parts = []
        if v["p50"] > WARN_TOKENS_PER_FRAME:
            parts.append(
                f"median {v['p50']} tokens per encoder frame (p95 {v['p95']}) is over "
                f"{WARN_TOKENS_PER_FRAME}: CTC/TDT get little room to align (32K BPE on real speech "
                "sits near 0.25); use a larger vocabulary or less subsampling"
            )
        if v["unalignable"]:
            parts.append(
                f"{v['unalignable']} of {v['clips']} clips have more tokens than encoder frames and "
                "cannot be aligned: Stage 1 leaves them out"
            )
        if parts:
            out.append(f"{lang}: " + "; ".join(parts))
    return out


def batching_artifacts(
    clips: ClipTable, edges: Sequence[float], num_buckets: int, num_subbuckets: int, subsampling_factor: int = 8
) -> dict:
    dur = clips.duration_s.astype(np.float64)
    tok = clips.num_tokens.astype(np.int64)
    tpf = tokens_per_frame(clips.language, clips.languages, dur, tok, subsampling_factor) if len(dur) else {}
    return {
        "tokens_per_encoder_frame": {
            "subsampling_factor": subsampling_factor,
            "by_language": tpf,
            "warnings": tokens_per_frame_warnings(tpf),
        },
        "clips": int(len(dur)),
        "hours": round(float(dur.sum()) / 3600, 4),
        "tokens_per_second": {
            "mean": round(float(tok.sum() / max(dur.sum(), 1e-9)), 3),
            "p99": round(float(np.percentile(tok / np.maximum(dur, 1e-3), 99)), 3) if len(dur) else None,
        },
        "max_tokens": int(tok.max()) if len(tok) else 0,
        "bucket_edges_s": list(edges),
        "buckets": bucket_table(dur, edges),
        "bucket_duration_bins_2d": estimate_bins_2d(dur, tok, num_buckets, num_subbuckets),
    }
