"""Today's Stage-1 data layer before the clip table (commit bc5c6d6), kept only so `make bench-scale`
can print its figures next to the new one on the same data: a dataset holding the split as Python
lists (``to_pydict`` of 9 columns) and a sampler packing and sharding in Python loops."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import torch

from maya.audio.reader import TarOffsetReader
from maya.clips import clip_durations, clip_ref


class ListClipDataset(torch.utils.data.Dataset):
    def __init__(self, split_parquet, languages):
        t = pq.read_table(split_parquet)
        self.rows = t.select(
            [
                "audio_path",
                "member",
                "offset",
                "nbytes",
                "language",
                "text_norm",
                "duration_s",
                "decoded_duration_s",
                "segment_id",
            ]
        ).to_pydict()
        self.languages = list(languages)
        self.reader = TarOffsetReader(sample_rate=16000)

    def __len__(self):
        return len(self.rows["audio_path"])

    @property
    def durations(self):
        return clip_durations(self.rows["decoded_duration_s"], self.rows["duration_s"])

    def __getitem__(self, i):
        audio = self.reader.read(clip_ref(self.rows, i))
        tokens = [1] * len(self.rows["text_norm"][i])  # the tokenizer ran here, per item
        return torch.from_numpy(audio), torch.tensor(tokens), self.languages.index(self.rows["language"][i])


def repeat_indices(groups, factors, rng):
    out = []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        f = float(factors.get(g, 1.0))
        whole, frac = int(math.floor(f)), f - math.floor(f)
        out.extend([idx] * whole)
        extra = int(round(frac * len(idx)))
        if extra:
            out.append(rng.choice(idx, size=extra, replace=False))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def pack(order, durations, tokens, caps):
    batches, cur, secs, toks = [], [], 0.0, 0
    for i in order:
        d, t = float(durations[i]), int(tokens[i])
        if cur and (secs + d > caps.max_duration_s or len(cur) + 1 > caps.max_batch_size or toks + t > caps.max_tokens):
            batches.append(cur)
            cur, secs, toks = [], 0.0, 0
        cur.append(int(i))
        secs += d
        toks += t
    if cur:
        batches.append(cur)
    return batches


def batch_cost(batch, durations, tokens, frame_rate=12.5, joint_weight=1.0e-3):
    b = len(batch)
    t_max = float(max(durations[i] for i in batch)) * frame_rate
    u_max = float(max(tokens[i] for i in batch)) + 1
    return b * t_max + joint_weight * b * t_max * u_max * 64


def shard_by_cost(costs, world_size, rng):
    n = len(costs) - len(costs) % world_size if len(costs) >= world_size else 0
    order = np.argsort(-np.asarray(costs, dtype=float), kind="stable")[:n]
    steps = order.reshape(-1, world_size) if n else np.zeros((0, world_size), dtype=np.int64)
    totals = np.zeros(world_size)
    steps_out = []
    for step in steps:
        ranks = np.argsort(totals, kind="stable")
        assign = {}
        for b, r in zip(step, ranks, strict=True):
            assign[int(r)] = int(b)
            totals[r] += costs[b]
        steps_out.append(assign)
    per_rank = [[] for _ in range(world_size)]
    for k in rng.permutation(len(steps_out)):
        for r in range(world_size):
            per_rank[r].append(steps_out[k][r])
    return per_rank


def plan(durations, tokens, groups, factors, edges, caps, seed, epoch, rank, world_size, keep):
    """One rank's batches for one epoch, as the old ``BucketingBatchSampler.plan`` made them."""
    rng = np.random.default_rng([seed, epoch])
    idx = repeat_indices(groups, factors, rng) if factors else np.arange(len(durations))
    idx = idx[keep[idx]]
    bucket = np.searchsorted(edges, durations[idx], side="right")
    batches = []
    for b in np.unique(bucket):
        batches.extend(pack(rng.permutation(idx[bucket == b]), durations, tokens, caps))
    costs = [batch_cost(bt, durations, tokens) for bt in batches]
    per_rank = shard_by_cost(costs, world_size, rng)
    return [batches[i] for i in per_rank[rank]]
