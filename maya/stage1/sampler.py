"""Stage-1 batch sampler: duration buckets, language rebalancing, the triple cap, cost-balanced DDP.

One epoch, for a given (seed, epoch):

1. **Rebalance**: every (corpus, language) group is repeated by its ``repeat_factor`` from
   ``results/balance/weights.json`` (temperature sampling, build guide §3): ``floor(f)`` copies of
   every clip plus a seeded random ``frac(f)`` of them, so a low-resource language is upsampled and
   English is downsampled without drawing with replacement.
2. **Bucket**: clips go to duration buckets (seed README: 0-4-8-12-16-20 s); within a bucket the
   order is shuffled.
3. **Pack** micro-batches under three caps at once (the seed's "triple cap"): total audio seconds,
   number of clips, total output tokens. The token cap is there because the TDT joint tensor is
   B x T x U x (V + 1 + durations): two batches with the same seconds can differ 10x in joint memory.
4. **Shard for DDP by cost**: every optimizer step takes one micro-batch per rank and waits for the
   slowest, so batches are sorted by estimated compute cost, taken ``world_size`` at a time (a
   step's batches cost about the same), and dealt to ranks so each rank's total cost is even.

The sampler is resumable mid-epoch: ``state_dict()`` holds (epoch, consumed batches) and a
restored sampler skips what was already trained on. It runs in the main process (the DataLoader
asks it for indices), so it never touches audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np


@dataclass(frozen=True)
class BatchCaps:
    max_duration_s: float = 120.0
    max_batch_size: int = 16
    max_tokens: int = 400


def repeat_indices(groups: np.ndarray, factors: dict, rng: np.random.Generator) -> np.ndarray:
    """Indices of one rebalanced epoch: each group's clips ``factor`` times (fraction sampled)."""
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


def pack(order: Sequence[int], durations: np.ndarray, tokens: np.ndarray, caps: BatchCaps) -> list[list[int]]:
    """Greedy packing in the given order; a batch closes when the next clip would break any cap.
    A clip that alone exceeds a cap still forms its own batch (it is never dropped)."""
    batches, cur, secs, toks = [], [], 0.0, 0
    for i in order:
        d, t = float(durations[i]), int(tokens[i])
        if cur and (secs + d > caps.max_duration_s or len(cur) + 1 > caps.max_batch_size
                    or toks + t > caps.max_tokens):
            batches.append(cur)
            cur, secs, toks = [], 0.0, 0
        cur.append(int(i))
        secs += d
        toks += t
    if cur:
        batches.append(cur)
    return batches


def batch_cost(batch: Sequence[int], durations: np.ndarray, tokens: np.ndarray,
               frame_rate: float = 12.5, joint_weight: float = 1.0e-3) -> float:
    """Relative compute of one micro-batch: encoder work grows with the padded audio frames,
    the joint with B x T x U (padded), which is what a step really costs on the GPU."""
    b = len(batch)
    t_max = float(max(durations[i] for i in batch)) * frame_rate
    u_max = float(max(tokens[i] for i in batch)) + 1
    return b * t_max + joint_weight * b * t_max * u_max * 64


def shard_by_cost(costs: Sequence[float], world_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Batch ids per rank, every rank the same number of batches (DDP steps in lockstep) and
    about the same total cost. Batches of similar cost form one step; steps are shuffled."""
    n = len(costs) - len(costs) % world_size if len(costs) >= world_size else 0
    order = np.argsort(-np.asarray(costs, dtype=float), kind="stable")[:n]
    steps = order.reshape(-1, world_size) if n else np.zeros((0, world_size), dtype=np.int64)
    totals = np.zeros(world_size)
    per_rank: list[list[int]] = [[] for _ in range(world_size)]
    steps_out = []
    for step in steps:
        # The costliest batch of a step goes to the rank that is cheapest so far.
        ranks = np.argsort(totals, kind="stable")
        assign = {}
        for b, r in zip(step, ranks):
            assign[int(r)] = int(b)
            totals[r] += costs[b]
        steps_out.append(assign)
    for k in rng.permutation(len(steps_out)):
        for r in range(world_size):
            per_rank[r].append(steps_out[k][r])
    return per_rank


class _EpochHook:
    """Lightning calls ``set_epoch`` on ``dataloader.batch_sampler.sampler`` (not on the batch
    sampler itself) before every epoch; this forwards it."""

    def __init__(self, owner: "BucketingBatchSampler"):
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.set_epoch(epoch)


class BucketingBatchSampler:
    """Deterministic per (seed, epoch) batches of dataset indices for one DDP rank."""

    def __init__(self, durations: Sequence[float], tokens: Sequence[int], groups: Sequence[str],
                 repeat_factors: dict | None, bucket_edges: Sequence[float], caps: BatchCaps,
                 seed: int = 0, rank: int = 0, world_size: int = 1, shuffle: bool = True,
                 keep: Sequence[bool] | None = None):
        self.durations = np.asarray(durations, dtype=float)
        # Clips never to sample (e.g. more tokens than encoder frames): still indexable, never drawn.
        self.keep = None if keep is None else np.asarray(keep, dtype=bool)
        self.tokens = np.asarray(tokens, dtype=np.int64)
        self.groups = np.asarray(groups)
        self.repeat_factors = dict(repeat_factors or {})
        self.edges = np.asarray(bucket_edges, dtype=float)
        self.caps = caps
        self.seed, self.rank, self.world_size, self.shuffle = seed, rank, world_size, shuffle
        self.epoch = 0
        self.consumed = 0
        self._cache: tuple[int, list[list[int]], dict] | None = None
        self.sampler = _EpochHook(self)

    # ---- plan ---------------------------------------------------------------------------
    def plan(self, epoch: int) -> tuple[list[list[list[int]]], dict]:
        """All ranks' batches for ``epoch`` and statistics (caps hit, cost balance)."""
        rng = np.random.default_rng([self.seed, epoch])
        if self.shuffle and self.repeat_factors:
            idx = repeat_indices(self.groups, self.repeat_factors, rng)
        else:
            idx = np.arange(len(self.durations))
        if self.keep is not None:
            idx = idx[self.keep[idx]]
        bucket = np.searchsorted(self.edges, self.durations[idx], side="right")
        batches = []
        for b in np.unique(bucket):
            members = idx[bucket == b]
            order = rng.permutation(members) if self.shuffle else members
            batches.extend(pack(order, self.durations, self.tokens, self.caps))
        costs = [batch_cost(bt, self.durations, self.tokens) for bt in batches]
        per_rank_ids = shard_by_cost(costs, self.world_size, rng) if self.shuffle else \
            [list(range(r, len(batches) - len(batches) % self.world_size, self.world_size))
             for r in range(self.world_size)]
        per_rank = [[batches[i] for i in ids] for ids in per_rank_ids]
        rank_costs = [sum(costs[i] for i in ids) for ids in per_rank_ids]
        stats = {
            "clips": int(len(idx)), "batches": len(batches),
            "excluded_clips": 0 if self.keep is None else int((~self.keep).sum()),
            "batches_per_rank": len(per_rank[0]) if per_rank else 0,
            "dropped_batches": len(batches) - sum(len(p) for p in per_rank),
            "rank_cost_imbalance": (max(rank_costs) / (sum(rank_costs) / len(rank_costs))
                                    if rank_costs and sum(rank_costs) else 1.0),
            "over_cap_batches": sum(1 for bt in batches if len(bt) == 1 and (
                self.durations[bt[0]] > self.caps.max_duration_s or self.tokens[bt[0]] > self.caps.max_tokens)),
        }
        return per_rank, stats

    def _batches(self) -> list[list[int]]:
        if self._cache is None or self._cache[0] != self.epoch:
            per_rank, stats = self.plan(self.epoch)
            self._cache = (self.epoch, per_rank[self.rank], stats)
        return self._cache[1]

    @property
    def stats(self) -> dict:
        self._batches()
        return self._cache[2]

    # ---- torch BatchSampler protocol ----------------------------------------------------
    def __iter__(self) -> Iterator[list[int]]:
        # Epochs advance through set_epoch (Lightning calls it before every epoch), never here:
        # the DataLoader reaches the end of this iterator before the last batches are trained on.
        batches = self._batches()
        for i in range(self.consumed, len(batches)):
            yield batches[i]

    def __len__(self) -> int:
        # The whole epoch, also after a mid-epoch resume: Lightning counts the restored batches
        # as done and ends the epoch when this iterator runs out.
        return len(self._batches())

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.consumed = epoch, 0

    def advance(self, n: int = 1) -> None:
        """Record ``n`` batches as trained on (called by the training loop, not by iteration,
        because the DataLoader prefetches batches that may never be trained on)."""
        self.consumed += n

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "consumed": self.consumed, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"sampler state was saved with seed {state['seed']}, this run uses {self.seed}")
        self.epoch, self.consumed = int(state["epoch"]), int(state["consumed"])
