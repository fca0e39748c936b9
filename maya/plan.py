"""The launch plan: what each training stage will cost before the first GPU-hour is spent.

Per stage (1, 2a, 2b, 3), from the real clip table and the real sampler plan (one epoch of rank 0's
batches, as training will draw them): steps, micro-batches per optimizer step, audio hours and output
tokens per step, epochs; FLOPs per step per part (``maya.flops``, on each batch's padded shape, and
the share padding wastes); predicted step time = FLOPs / (GPU peak x utilisation), GPU-hours and
days, next to the seed README's and build guide's figures; GPU memory per rank at the caps (Stage 1:
the memory model on the worst sampled batch; Stage 2: ZeRO-2 partitioning over the ranks); host
memory per node; local disk and object storage for checkpoints (with ``storage.keep_local``); and
whether the data loader can feed the GPUs (measured read + decode throughput x workers against the
clips per second the predicted step time asks for).

Every figure that is not computed from the data says where it comes from: ``assumed`` (config),
``measured`` (a file or a measurement in this run), ``published`` (a datasheet or the seed documents).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from maya import flops
from maya.stage1.memory import predicted_peak_gb, static_bytes

# Dense bf16 tensor-core peak per GPU, TFLOP/s (NVIDIA datasheets, SXM parts).
GPU_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}
# The seed README and the build guide (5.4): steps, seconds per step on 8 GPUs, days.
SEED = {
    "stage1": {"steps": 200_000, "s_per_step": [2.0, 3.0], "days": [5, 7]},
    "stage2a": {"steps": 20_000, "s_per_step": [3.0, 3.0], "days": [1, 1]},
    "stage2b": {"steps": 150_000, "s_per_step": [4.0, 6.0], "days": [7, 10]},
    "stage3": {"steps": 20_000, "s_per_step": [4.0, 4.0], "days": [1, 1]},
    "total_days": [14, 19],
}
# `make bench-scale` at 53.3M clips (docs/scale.md): one epoch's plan on rank 0 of 8 peaked at
# 2.50 GiB for 70.0M rebalanced clips; 6 DataLoader workers held 204 MiB of copied pages.
PLAN_BYTES_PER_CLIP = 2.50 * 2**30 / 70.0e6
WORKER_PRIVATE_BYTES_PER_CLIP = 204 * 2**20 / 6 / 53.3e6
FRAME_S = 0.01  # feature frames per second of audio: 100 (10 ms hop)
MAX_SAMPLED_BATCHES = 50_000


def sampled_batches(table, caps, edges, factors, world: int, seed: int, keep=None) -> dict[str, np.ndarray]:
    """Rank 0's batches of epoch 0 as the real sampler draws them (at most MAX_SAMPLED_BATCHES,
    a uniform sample of them): per batch the clip count, the longest clip (s), the most tokens of a
    clip, the total seconds and tokens; and per clip seconds and tokens (for the unpadded work)."""
    from maya.stage1.sampler import BucketingBatchSampler

    sampler = BucketingBatchSampler(
        table.duration_s, table.num_tokens, table.group, factors, edges, caps, seed=seed, world_size=world, keep=keep
    )
    plan = sampler.plan(0)
    ids = plan.per_rank[0]
    ids = ids[ids >= 0]
    if len(ids) > MAX_SAMPLED_BATCHES:
        ids = np.sort(np.random.default_rng(seed).choice(ids, MAX_SAMPLED_BATCHES, replace=False))
    starts, ends = plan.bounds[ids], plan.bounds[ids + 1]
    clips = (
        np.concatenate([plan.clips[s:e] for s, e in zip(starts, ends, strict=True)]) if len(ids) else np.zeros(0, int)
    )
    sizes = (ends - starts).astype(np.int64)
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    dur = table.duration_s[clips].astype(np.float64)
    tok = table.num_tokens[clips].astype(np.int64)
    reduce = (lambda f, x: f.reduceat(x, offsets)) if len(ids) else (lambda f, x: np.zeros(0))
    return {
        "size": sizes,
        "max_s": reduce(np.maximum, dur),
        "max_tokens": reduce(np.maximum, tok),
        "sum_s": reduce(np.add, dur),
        "sum_tokens": reduce(np.add, tok),
        "clip_s": dur,
        "clip_tokens": tok,
        "epoch_batches_per_rank": int((plan.per_rank[0] >= 0).sum()),
        "epoch_clips": int(plan.stats["clips"]),
    }


def _frames(seconds: np.ndarray) -> np.ndarray:
    return (np.ceil(seconds / FRAME_S) + 1).astype(np.int64)


def step_figures(batches: Mapping[str, np.ndarray], micro_per_gpu: int, flops_fn) -> dict[str, Any]:
    """Per optimizer step and per GPU: micro-batches, audio, tokens, FLOPs per part (padded, as the
    kernels compute them) and the padding share (1 - the same work on each clip alone / padded)."""
    b, t_in, u = batches["size"], _frames(batches["max_s"]), batches["max_tokens"]
    parts = flops_fn(b, t_in, u)
    alone = flops_fn(1, _frames(batches["clip_s"]), batches["clip_tokens"])
    padded_total = sum(float(np.sum(v)) for v in parts.values())
    useful_total = sum(float(np.sum(v)) for v in alone.values())
    n = max(1, len(b))
    return {
        "micro_batch": {
            "clips": float(b.mean()) if len(b) else 0.0,
            "audio_s": float(batches["sum_s"].mean()) if len(b) else 0.0,
            "tokens": float(batches["sum_tokens"].mean()) if len(b) else 0.0,
        },
        "per_gpu_step": {
            "micro_batches": micro_per_gpu,
            "audio_s": micro_per_gpu * (float(batches["sum_s"].mean()) if len(b) else 0.0),
            "tokens": micro_per_gpu * (float(batches["sum_tokens"].mean()) if len(b) else 0.0),
            "tflops": {k: micro_per_gpu * float(np.sum(v)) / n / 1e12 for k, v in parts.items()},
        },
        "padding_share": 1.0 - useful_total / padded_total if padded_total else 0.0,
    }


def zero2_gb(total_params: int, trainable: int, ranks: int, activations_gb: float) -> dict[str, float]:
    """Per-rank GPU memory under ZeRO-2 with fp32 weights and bf16 autocast (our DeepSpeed setup):
    every rank holds the weights (4 bytes each); gradients (4) and AdamW's fp32 copy and moments
    (12) of the trainable ones are partitioned over the ranks."""
    weights = 4 * total_params / 2**30
    partitioned = 16 * trainable / ranks / 2**30
    return {
        "weights": weights,
        "grads_and_optimizer": partitioned,
        "activations": activations_gb,
        "total": weights + partitioned + activations_gb,
    }


def llm_activation_gb(llm: Mapping[str, Any], b: int, s: int, logits: int, trained: bool) -> float:
    """Korthikanti et al. per layer (16-bit): s*b*h*(34 + 5*a*s/h) bytes, plus the target logits
    (fp32 logits, log-softmax and gradient: 12 bytes each). A frozen LLM (2a) still keeps what the
    backward to the projection needs; the estimate is the same order, so it is used for both."""
    h, a, layers = llm["hidden_size"], llm["num_attention_heads"], llm["num_hidden_layers"]
    per_layer = s * b * h * (34 + 5 * a * s / h)
    return (layers * per_layer + 12 * b * logits * llm["vocab_size"]) / 2**30


def loader_throughput(table, sample: int, seed: int = 0) -> dict[str, float]:
    """Read + decode (``TarOffsetReader``, one process, random order) of ``sample`` clips of the real
    shards: clips and audio seconds per second per DataLoader worker."""
    from maya.audio.reader import TarOffsetReader

    n = len(table)
    if n == 0:
        return {"clips_per_s": 0.0, "audio_s_per_s": 0.0, "clips": 0}
    idx = np.random.default_rng(seed).choice(n, min(sample, n), replace=False)
    reader = TarOffsetReader(16000)
    t = time.perf_counter()
    seconds = 0.0
    for i in idx.tolist():
        seconds += len(reader.read(table.ref(i))) / 16000
    took = time.perf_counter() - t
    reader.close()
    return {"clips_per_s": len(idx) / took, "audio_s_per_s": seconds / took, "clips": len(idx)}


def stage_time(tflops_per_gpu_step: float, peak_tflops: float, utilisation: float) -> float:
    return tflops_per_gpu_step / (peak_tflops * utilisation) if peak_tflops and utilisation else math.inf


def verdict_fits(need: float, have: float) -> str:
    return "fits" if need <= have else "FAILS"


def model_sizes(config: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
    """The parameters the plan needs (Stage-1 total; Stage-2 total, encoder, projection, LLM; counted
    on the meta device) and the LLM's config, from the validated config."""
    from maya.stage1.modules import model_summary
    from maya.stage2.llm import llm_config, stage2_summary

    model, langs = config["stage1"]["model"], config["languages"]
    s1 = model_summary(model, config["tokenizer"]["vocab_size"], len(langs))
    s2 = stage2_summary(
        model["d_model"],
        s1["encoder"],
        config["stage2"]["llm"],
        1 + len(langs),
        config["stage2"]["projection_downsample"],
    )["counts"]
    llm = llm_config(config["stage2"]["llm"])[0].to_dict()
    llm.setdefault("head_dim", llm["hidden_size"] // llm["num_attention_heads"])
    sizes = {
        "stage1": s1["total"],
        "stage2": s2["total"],
        "encoder": s1["encoder"],
        "projection": s2["projection"],
        "llm": s2["llm_embedding"] + s2["llm_other"],
    }
    return sizes, llm


def launch_plan(
    config: Mapping[str, Any],
    stage1_clips: str | Path,
    stage2_clips: str | Path | None,
    balance_json: str | Path,
    n_params: Mapping[str, int],
    llm: Mapping[str, Any],
    calibration: Mapping[str, Any] | None,
    workers: int,
    free_disk_gb: float | None = None,
) -> dict[str, Any]:
    """The plan as a dict (see the module docstring); ``n_params``: stage1 total, stage2 total,
    encoder, projection, llm; ``llm``: the LLM's config (hidden_size, layers, heads, vocab, ...)."""
    from maya.batching import alignable
    from maya.clip_table import ClipTable
    from maya.stage1.sampler import BatchCaps
    from maya.stage1.train import _balance_factors

    p = config["plan"]
    peak = p["peak_bf16_tflops"] or GPU_PEAK_TFLOPS[p["gpu"]]
    util, util_from = p["utilisation"], "assumed (plan.utilisation)"
    if calibration and calibration.get("stage1", {}).get("achieved_utilisation"):
        util, util_from = calibration["stage1"]["achieved_utilisation"], "measured (gpu_calibration.json)"
    budget = config["stage1"]["sampler"]["gpu_memory_budget_gb"]
    edges = config["data"]["bucket_edges_s"]
    storage = config["storage"]
    factors_by_group = _balance_factors(balance_json)
    out: dict[str, Any] = {
        "gpu": {
            "kind": p["gpu"],
            "peak_bf16_tflops": peak,
            "utilisation": util,
            "utilisation_from": util_from,
            "peak_from": "assumed (plan.peak_bf16_tflops)" if p["peak_bf16_tflops"] else "published datasheet",
        },
        "seed": SEED,
        "stages": {},
    }

    # ---- Stage 1 -----------------------------------------------------------------------------------
    s1 = config["stage1"]
    tr1, samp1, model = s1["trainer"], s1["sampler"], s1["model"]
    vocab = config["tokenizer"]["vocab_size"]
    t1 = ClipTable(stage1_clips)
    ranks1 = tr1["devices"] * tr1["num_nodes"]
    caps1 = BatchCaps(samp1["max_batch_duration_s"], samp1["max_batch_size"], samp1["max_tokens_in_batch"])
    keep = alignable(t1.duration_s, t1.num_tokens, model["subsampling_factor"])
    f1 = [factors_by_group.get(g, 1.0) for g in t1.groups] if factors_by_group else None
    b1 = sampled_batches(t1, caps1, edges, f1, ranks1, tr1["seed"], keep)

    def s1_flops(frozen):
        return lambda b, t_in, u: flops.stage1_step(model, vocab, b, t_in, u, encoder_frozen=frozen)

    fig = step_figures(b1, tr1["accumulate_grad_batches"], s1_flops(False))
    frozen_fig = step_figures(b1, tr1["accumulate_grad_batches"], s1_flops(True))
    steps1, freeze = tr1["max_steps"], min(s1["optim"]["freeze_encoder_steps"], tr1["max_steps"])
    secs = stage_time(sum(fig["per_gpu_step"]["tflops"].values()), peak, util)
    secs_frozen = stage_time(sum(frozen_fig["per_gpu_step"]["tflops"].values()), peak, util)
    wall1 = freeze * secs_frozen + (steps1 - freeze) * secs
    worst = int(np.argmax(b1["size"] * _frames(b1["max_s"]) * (b1["max_tokens"] + 1))) if len(b1["size"]) else 0
    peak_gb = (
        predicted_peak_gb(
            model,
            n_params["stage1"],
            vocab,
            int(b1["size"][worst]),
            int(flops.encoder_frames(model, int(_frames(b1["max_s"][worst : worst + 1])[0]))),
            float(b1["max_tokens"][worst]),
        )
        if len(b1["size"])
        else static_bytes(n_params["stage1"]) / 2**30
    )
    ckpt1 = 12 * n_params["stage1"] / 2**30  # fp32 weights + AdamW moments
    out["stages"]["stage1"] = _stage(
        "stage1",
        steps1,
        ranks1,
        tr1,
        fig,
        secs,
        wall1,
        b1,
        t1,
        peak_gb,
        budget,
        ckpt1,
        storage,
        extra={
            "encoder_frozen_steps": freeze,
            "s_per_step_encoder_frozen": secs_frozen,
            "memory_from": "maya/stage1/memory.py on the worst sampled batch",
            "worst_batch": {
                "clips": int(b1["size"][worst]) if len(b1["size"]) else 0,
                "longest_s": float(b1["max_s"][worst]) if len(b1["size"]) else 0.0,
                "most_tokens": int(b1["max_tokens"][worst]) if len(b1["size"]) else 0,
            },
        },
    )

    # ---- Stages 2a, 2b, 3 --------------------------------------------------------------------------
    s2 = config["stage2"]
    tr2, samp2 = s2["trainer"], s2["sampler"]
    ranks2 = tr2["devices"] * tr2["num_nodes"]
    t2 = ClipTable(stage2_clips) if stage2_clips and Path(stage2_clips).exists() else t1
    caps2 = BatchCaps(samp2["max_batch_duration_s"], samp2["max_batch_size"], samp2["max_tokens_in_batch"])
    f2 = [factors_by_group.get(g, 1.0) for g in t2.groups] if factors_by_group else None
    b2 = sampled_batches(t2, caps2, edges, f2, ranks2, tr2["seed"])
    for stage in ("stage2a", "stage2b", "stage3"):
        steps = config["stage3"]["max_steps"] if stage == "stage3" else s2[stage]["max_steps"]

        def s2_flops(b, t_in, u, stage=stage):
            return flops.stage2_step(model, llm, stage, b, t_in, u, downsample=s2["projection_downsample"])

        fig2 = step_figures(b2, tr2["accumulate_grad_batches"], s2_flops)
        secs2 = stage_time(sum(fig2["per_gpu_step"]["tflops"].values()), peak, util)
        trainable = n_params["projection"] + (n_params["llm"] if stage != "stage2a" else 0)
        if len(b2["size"]):
            w = int(np.argmax(b2["size"] * (_frames(b2["max_s"]) // model["subsampling_factor"] + b2["max_tokens"])))
            s_len = (
                int(flops.encoder_frames(model, int(_frames(b2["max_s"][w : w + 1])[0]))) // s2["projection_downsample"]
            )
            act = llm_activation_gb(
                llm,
                int(b2["size"][w]),
                s_len + 3 + int(b2["max_tokens"][w]) + 1,
                int(b2["max_tokens"][w]) + 1,
                stage != "stage2a",
            )
        else:
            act = 0.0
        mem = zero2_gb(n_params["stage2"], trainable, ranks2, act)
        ckpt2 = (4 * n_params["stage2"] + 12 * trainable) / 2**30  # ZeRO shards: fp32 states + optimizer
        epochs_scale = config["stage3"]["top_fraction"] if stage == "stage3" else 1.0
        out["stages"][stage] = _stage(
            stage,
            steps,
            ranks2,
            tr2,
            fig2,
            secs2,
            steps * secs2,
            b2,
            t2,
            mem["total"],
            budget,
            ckpt2,
            storage,
            extra={
                "memory_gb_parts": mem,
                "memory_from": "ZeRO-2 partitioning over the ranks + activations",
                "trainable_params": trainable,
                "clips_from": (
                    "results/stage3 is made by Stage 1; its batches are taken as Stage 2's, "
                    f"and its epochs over top_fraction {epochs_scale:g} of the clips"
                    if stage == "stage3"
                    else f"{stage2_clips} (Gemma tokens)"
                    if t2 is not t1
                    else "Stage 1's clip table (BPE tokens) standing in: no Stage-2 clip table built yet"
                ),
            },
            epoch_fraction=epochs_scale,
        )

    # ---- the node ----------------------------------------------------------------------------------
    loader = loader_throughput(t1, p["loader_sample_clips"])
    total_clips = len(t1)
    out["host_memory_gb"] = {
        "clip_table_page_cache": Path(stage1_clips).stat().st_size / 2**30,
        "epoch_plans": ranks1 * PLAN_BYTES_PER_CLIP * b1["epoch_clips"] / 2**30,
        "dataloader_workers": ranks1 * workers * WORKER_PRIVATE_BYTES_PER_CLIP * total_clips / 2**30,
        "from": "clip table size (shared page cache); plan and worker memory per clip as measured by make bench-scale",
    }
    out["host_memory_gb"]["total"] = sum(v for v in out["host_memory_gb"].values() if isinstance(v, float))
    out["data_loading"] = {"measured_per_worker": loader, "workers_per_rank": workers, "stages": {}}
    for stage, st in out["stages"].items():
        # Decoding costs what the audio lasts, so audio seconds (not clips) decide the verdict.
        step_s = st["s_per_step"]
        demand = st["per_gpu_step"]["audio_s"] / step_s if step_s else 0.0
        supply = loader["audio_s_per_s"] * workers
        out["data_loading"]["stages"][stage] = {
            "clips_per_s_needed_per_rank": st["per_gpu_step"]["clips"] / step_s if step_s else 0.0,
            "audio_s_per_s_needed_per_rank": demand,
            "audio_s_per_s_available_per_rank": supply,
            "headroom": supply / demand if demand else math.inf,
            "verdict": "GPU-bound" if supply >= demand else "loader-bound",
        }
    days = sum(st["wall_days"] for st in out["stages"].values())
    out["total"] = {
        "wall_days": days,
        "gpu_hours": sum(st["gpu_hours"] for st in out["stages"].values()),
        "seed_days": SEED["total_days"],
        "fits": all(
            st["memory"]["verdict"] == "fits" and st["disk"]["verdict"] != "FAILS" for st in out["stages"].values()
        ),
    }
    if free_disk_gb is not None:
        for st in out["stages"].values():
            st["disk"]["free_gb"] = free_disk_gb
            st["disk"]["verdict"] = verdict_fits(st["disk"]["local_gb"], free_disk_gb)
        out["total"]["fits"] = all(
            st["memory"]["verdict"] == "fits" and st["disk"]["verdict"] == "fits" for st in out["stages"].values()
        )
    return out


def _stage(
    stage,
    steps,
    ranks,
    trainer,
    fig,
    secs,
    wall_s,
    batches,
    table,
    mem_gb,
    budget,
    ckpt_gb,
    storage,
    extra=None,
    epoch_fraction=1.0,
) -> dict[str, Any]:
    micro = trainer["accumulate_grad_batches"]
    per_step_clips = ranks * micro * fig["micro_batch"]["clips"]
    epoch_clips = max(1.0, batches["epoch_clips"] * epoch_fraction)
    every = trainer["checkpoint_every_n_steps"]
    n_ckpt = steps // every + 1
    keep = storage.get("keep_local")
    local = min(n_ckpt, keep + 1) if keep else n_ckpt
    seed = SEED.get(stage, {})
    return {
        "steps": steps,
        "ranks": ranks,
        "micro_batches_per_step": ranks * micro,
        "micro_batch": fig["micro_batch"],
        "per_step": {
            "audio_h": ranks * fig["per_gpu_step"]["audio_s"] / 3600,
            "tokens": ranks * fig["per_gpu_step"]["tokens"],
            "clips": per_step_clips,
        },
        "per_gpu_step": {**fig["per_gpu_step"], "clips": micro * fig["micro_batch"]["clips"]},
        "epochs": steps * per_step_clips / epoch_clips,
        "padding_share": fig["padding_share"],
        "s_per_step": secs,
        "wall_days": wall_s / 86400,
        "gpu_hours": wall_s * ranks / 3600,
        "seed": {"s_per_step": seed.get("s_per_step"), "days": seed.get("days"), "steps": seed.get("steps")},
        "memory": {"per_rank_gb": mem_gb, "budget_gb": budget, "verdict": verdict_fits(mem_gb, budget)},
        "disk": {
            "checkpoint_gb": ckpt_gb,
            "checkpoints": n_ckpt,
            "kept_locally": local,
            "local_gb": ckpt_gb * local,
            "object_storage_gb": ckpt_gb * n_ckpt if storage.get("enabled") else 0.0,
            "verdict": "unchecked",
        },
        "sampled_batches": len(batches["size"]),
        **(extra or {}),
    }


def markdown(plan: Mapping[str, Any]) -> str:
    g = plan["gpu"]
    lines = [
        "# Launch plan",
        "",
        f"GPU: {g['kind']}, {g['peak_bf16_tflops']:.0f} TFLOP/s bf16 peak ({g['peak_from']}), utilisation "
        f"{100 * g['utilisation']:.0f} % ({g['utilisation_from']}). Step times are FLOPs / (peak x utilisation).",
        "",
        "| stage | steps | ranks x micro | audio h / step | TFLOPs / GPU-step | padding | s / step (seed) "
        "| days (seed) | GPU-h | memory / rank | disk local | object storage | loader |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, st in plan["stages"].items():
        seed = st["seed"]
        seed_s = "-".join(f"{x:g}" for x in seed["s_per_step"]) if seed.get("s_per_step") else "-"
        seed_d = "-".join(f"{x:g}" for x in seed["days"]) if seed.get("days") else "-"
        dl = plan["data_loading"]["stages"][name]
        lines.append(
            f"| {name} | {st['steps']:,} | {st['ranks']} x {st['micro_batches_per_step'] // max(1, st['ranks'])} "
            f"| {st['per_step']['audio_h']:.2f} | {sum(st['per_gpu_step']['tflops'].values()):,.1f} "
            f"| {100 * st['padding_share']:.0f} % | {st['s_per_step']:.3g} ({seed_s}) "
            f"| {st['wall_days']:.3g} ({seed_d}) "
            f"| {st['gpu_hours']:,.0f} | {st['memory']['per_rank_gb']:.1f} / {st['memory']['budget_gb']:.0f} GB "
            f"{st['memory']['verdict']} | {st['disk']['local_gb']:,.0f} GB ({st['disk']['kept_locally']} kept) "
            f"| {st['disk']['object_storage_gb']:,.0f} GB | {dl['verdict']} ({dl['headroom']:.1f}x) |"
        )
    t = plan["total"]
    lines += [
        "",
        f"Total: {t['wall_days']:.3g} days, {t['gpu_hours']:,.0f} GPU-hours (seed documents: "
        f"{t['seed_days'][0]}-{t['seed_days'][1]} days). Memory and disk: {'fit' if t['fits'] else 'DO NOT FIT'}.",
        "",
        "FLOPs per GPU-step by part (TFLOPs):",
        "",
    ]
    for name, st in plan["stages"].items():
        parts = ", ".join(f"{k} {v:,.2f}" for k, v in st["per_gpu_step"]["tflops"].items())
        lines.append(f"- {name}: {parts}")
    h = plan["host_memory_gb"]
    dl = plan["data_loading"]["measured_per_worker"]
    lines += [
        "",
        f"Host memory per node: {h['total']:.2f} GB (clip table page cache {h['clip_table_page_cache']:.2f}, epoch "
        f"plans {h['epoch_plans']:.2f}, DataLoader workers {h['dataloader_workers']:.2f}; {h['from']}).",
        "",
        f"Data loading, measured here: {dl['clips_per_s']:.0f} clips/s ({dl['audio_s_per_s']:.0f} audio-s/s) per "
        f"worker over {dl['clips']} random clips, x {plan['data_loading']['workers_per_rank']} workers per rank.",
        "",
    ]
    return "\n".join(lines)


def write(plan: Mapping[str, Any], json_path: str | Path, md_path: str | Path) -> None:
    Path(json_path).write_text(json.dumps(plan, indent=1, default=float) + "\n")
    Path(md_path).write_text(markdown(plan))
