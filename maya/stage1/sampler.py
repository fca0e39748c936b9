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

Everything is numpy over whole arrays, never a Python loop per clip or per batch: at 53M clips an
epoch's plan is a few seconds and a few arrays (``Plan``), not millions of lists. The sampler is
resumable mid-epoch: ``state_dict()`` holds (epoch, consumed batches) and a restored sampler skips
what was already trained on. It runs in the main process (the DataLoader asks it for indices), so
it never touches audio.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BatchCaps:
    max_duration_s: float = 120.0
    max_batch_size: int = 16
    max_tokens: int = 400


def repeat_indices(groups: np.ndarray, factors: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Indices (int32) of one rebalanced epoch: group ``g``'s clips ``factors[g]`` times (fraction
    sampled). One mask pass per group instead of an argsort: a few small arrays at 53M clips."""
    groups = np.asarray(groups)
    parts = []
    for g in range(int(groups.max()) + 1 if len(groups) else 0):
        idx = np.flatnonzero(groups == g).astype(np.int32)  # ascending
        if not len(idx):
            continue
        f = float(factors[g])
        whole = int(np.floor(f))
        parts.extend([idx] * whole)
        extra = int(round((f - whole) * len(idx)))
        if extra:
            parts.append(rng.choice(idx, size=extra, replace=False))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


def pack(order: np.ndarray, duration_ms: np.ndarray, tokens: np.ndarray, caps: BatchCaps) -> np.ndarray:
    """Batch boundaries of greedy packing in the given order: a batch closes when the next clip
    would break any cap; a clip that alone exceeds a cap still forms its own batch (never dropped).
    Returns ``bounds`` (batch ``k`` is ``order[bounds[k]:bounds[k + 1]]``).

    Greedy packing is sequential, but where a batch starting at clip ``i`` ends (``end[i]``) is one
    ``searchsorted`` on cumulative sums for all ``i`` at once; the batches are then the chain
    0, end[0], end[end[0]], ..., found by pointer doubling in log2(batches) array passes. Durations
    are integer milliseconds so the sums are exact and the chain matches a clip-by-clip loop."""
    n = len(order)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    # int64 sums (53M clips x 20 s in ms overflow int32), int32 positions: ~40 bytes per clip.
    cd = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(duration_ms[order], dtype=np.int64, out=cd[1:])
    end = np.searchsorted(cd, cd[:-1] + round(caps.max_duration_s * 1000), side="right").astype(np.int32)
    np.cumsum(tokens[order], dtype=np.int64, out=cd[1:])  # reuse the buffer for the token sums
    np.minimum(end, np.searchsorted(cd, cd[:-1] + caps.max_tokens, side="right").astype(np.int32), out=end)
    del cd
    end -= 1
    start = np.arange(n, dtype=np.int32)
    np.minimum(end, start + min(caps.max_batch_size, n), out=end)
    np.maximum(end, start + 1, out=end)
    del start
    jump = np.append(end, np.int32(n))  # jump[n] = n: the chain stays at the end
    del end
    reached = np.zeros(1, dtype=np.int64)  # {end^m(0) : m < 2^k}
    while reached[-1] != n:
        reached = np.union1d(reached, jump[reached])
        jump = jump[jump]
    return reached


def batch_costs(
    bounds: np.ndarray, seconds: np.ndarray, tokens: np.ndarray, frame_rate: float = 12.5, joint_weight: float = 1.0e-3
) -> np.ndarray:
    """Relative compute of each micro-batch (``seconds``/``tokens`` in batch order): encoder work
    grows with the padded audio frames, the joint with B x T x U (padded), which is what a step
    really costs on the GPU."""
    if len(bounds) < 2:
        return np.zeros(0)
    b = np.diff(bounds).astype(float)
    t_max = np.maximum.reduceat(seconds, bounds[:-1]).astype(float) * frame_rate
    u_max = np.maximum.reduceat(tokens, bounds[:-1]).astype(float) + 1
    return b * t_max + joint_weight * b * t_max * u_max * 64


def split_to_multiple(bounds: np.ndarray, world_size: int) -> np.ndarray:
    """Split the largest batches in two until the batch count is a multiple of ``world_size`` (at
    most ``world_size - 1`` splits; halves keep every cap), so each rank gets the same number of
    batches and none is left without one (Lightning refuses an empty validation loader)."""
    while (len(bounds) - 1) % world_size:
        size = np.diff(bounds)
        k = int(np.argmax(size))
        if size[k] < 2:
            break
        bounds = np.insert(bounds, k + 1, bounds[k] + size[k] // 2)
    return bounds


def shard_by_cost(costs: np.ndarray, world_size: int, rng: np.random.Generator) -> np.ndarray:
    """Batch ids per rank, shape (world_size, steps): every rank the same number of batches (DDP
    steps in lockstep) and about the same total cost. Batches of similar cost form one step (sorted
    by cost, ``world_size`` at a time); steps are dealt in a snake order (0..W-1, then W-1..0), so a
    rank that got a step's costliest batch gets the next step's cheapest; steps are shuffled."""
    n = len(costs) - len(costs) % world_size
    steps = np.argsort(-np.asarray(costs, dtype=float), kind="stable")[:n].reshape(-1, world_size)
    steps[1::2] = steps[1::2, ::-1]
    return steps[rng.permutation(len(steps))].T.copy()


@dataclass(frozen=True)
class Plan:
    """One epoch's batches as arrays: batch ``k`` is ``clips[bounds[k]:bounds[k + 1]]``;
    ``per_rank[r]`` lists rank ``r``'s batch ids in training order (-1: no batch at that step)."""

    clips: np.ndarray
    bounds: np.ndarray
    per_rank: np.ndarray
    stats: dict

    def batch(self, k: int) -> list[int]:
        return self.clips[self.bounds[k] : self.bounds[k + 1]].tolist()

    def rank_batches(self, rank: int) -> list[list[int]]:
        return [self.batch(k) for k in self.per_rank[rank] if k >= 0]


class _EpochHook:
    """Lightning calls ``set_epoch`` on ``dataloader.batch_sampler.sampler`` (not on the batch
    sampler itself) before every epoch; this forwards it."""

    def __init__(self, owner: BucketingBatchSampler):
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.set_epoch(epoch)


class BucketingBatchSampler:
    """Deterministic per (seed, epoch) batches of dataset indices for one DDP rank.

    ``groups`` holds one small integer per clip (its (corpus, language) group) and
    ``repeat_factors`` the factor per group code (None: every clip once)."""

    def __init__(
        self,
        durations: Sequence[float],
        tokens: Sequence[int],
        groups: Sequence[int],
        repeat_factors: Sequence[float] | None,
        bucket_edges: Sequence[float],
        caps: BatchCaps,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        keep: Sequence[bool] | None = None,
        drop_last: bool = True,
    ):
        self.durations = np.asarray(durations)
        self.duration_ms = np.round(self.durations.astype(np.float64) * 1000).astype(np.int32)
        # Clips never to sample (e.g. more tokens than encoder frames): still indexable, never drawn.
        self.keep = None if keep is None else np.asarray(keep, dtype=bool)
        self.tokens = np.asarray(tokens)
        self.groups = np.asarray(groups)
        self.repeat_factors = None if repeat_factors is None else np.asarray(repeat_factors, dtype=float)
        self.edges = np.asarray(bucket_edges, dtype=float)
        self.bucket = np.searchsorted(self.edges, self.durations, side="right").astype(np.int8)
        self.caps = caps
        self.seed, self.rank, self.world_size, self.shuffle = seed, rank, world_size, shuffle
        # Training steps run in lockstep, so every rank takes the same number of batches and the
        # remainder is dropped; validation (drop_last=False) splits batches until they deal
        # evenly, and where they cannot (fewer clips than ranks) the last step has fewer ranks
        # busy (-1 pads the others): no clip goes unscored.
        self.drop_last = drop_last
        self.epoch = 0
        self.consumed = 0
        self._cache: tuple[int, Plan] | None = None
        self.sampler = _EpochHook(self)

    # ---- plan ---------------------------------------------------------------------------
    def plan(self, epoch: int) -> Plan:
        """All ranks' batches for ``epoch`` and statistics (caps hit, cost balance)."""
        rng = np.random.default_rng([self.seed, epoch])
        if self.shuffle and self.repeat_factors is not None:
            idx = repeat_indices(self.groups, self.repeat_factors, rng)
        else:
            idx = np.arange(len(self.durations), dtype=np.int32)
        if self.keep is not None:
            idx = idx[self.keep[idx]]
        # Int32 clip positions, written bucket by bucket into one array: at 70M rebalanced clips the
        # plan's peak is a few int32/int64 arrays of the largest bucket, not a dozen of the epoch.
        bucket = self.bucket[idx]
        clips = np.empty(len(idx), dtype=np.int32)
        bounds, done = [np.zeros(1, dtype=np.int64)], 0
        for b in range(len(self.edges) + 1):
            members = idx[bucket == b]
            if not len(members):
                continue
            order = rng.permutation(members) if self.shuffle else members
            del members
            clips[done : done + len(order)] = order
            bounds.append(pack(order, self.duration_ms, self.tokens, self.caps)[1:] + done)
            done += len(order)
            del order
        del bucket, idx
        bounds = np.concatenate(bounds)
        if not self.drop_last:
            bounds = split_to_multiple(bounds, self.world_size)
        n_batches = len(bounds) - 1
        costs = batch_costs(bounds, self.durations[clips], self.tokens[clips])
        if self.shuffle:
            per_rank = shard_by_cost(costs, self.world_size, rng)
        elif self.drop_last:
            per_rank = np.arange(n_batches - n_batches % self.world_size).reshape(-1, self.world_size).T
        else:
            steps = -(-n_batches // self.world_size)
            per_rank = np.full(steps * self.world_size, -1, dtype=np.int64)
            per_rank[:n_batches] = np.arange(n_batches)
            per_rank = per_rank.reshape(-1, self.world_size).T
        rank_costs = np.where(per_rank >= 0, costs[per_rank], 0).sum(axis=1) if per_rank.size else np.zeros(0)
        size = np.diff(bounds)
        first = clips[bounds[:-1]] if n_batches else np.zeros(0, dtype=np.int64)
        over = (size == 1) & (
            (self.durations[first] > self.caps.max_duration_s) | (self.tokens[first] > self.caps.max_tokens)
        )
        stats = {
            "clips": int(len(clips)),
            "batches": int(n_batches),
            "excluded_clips": 0 if self.keep is None else int((~self.keep).sum()),
            "batches_per_rank": int(per_rank.shape[1]),
            "dropped_batches": int(n_batches - (per_rank >= 0).sum()),
            "rank_cost_imbalance": (
                float(rank_costs.max() / rank_costs.mean()) if rank_costs.size and rank_costs.sum() else 1.0
            ),
            "over_cap_batches": int(over.sum()),
        }
        return Plan(clips, bounds, per_rank, stats)

    def _plan(self) -> Plan:
        if self._cache is None or self._cache[0] != self.epoch:
            self._cache = (self.epoch, self.plan(self.epoch))
        return self._cache[1]

    @property
    def stats(self) -> dict:
        return self._plan().stats

    # ---- torch BatchSampler protocol ----------------------------------------------------
    def __iter__(self) -> Iterator[list[int]]:
        # Epochs advance through set_epoch (Lightning calls it before every epoch), never here:
        # the DataLoader reaches the end of this iterator before the last batches are trained on.
        plan = self._plan()
        for k in plan.per_rank[self.rank][self.consumed :]:
            if k >= 0:
                yield plan.batch(k)

    def __len__(self) -> int:
        # The whole epoch, also after a mid-epoch resume: Lightning counts the restored batches
        # as done and ends the epoch when this iterator runs out.
        return int((self._plan().per_rank[self.rank] >= 0).sum())

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
