"""Stage 2a / 2b / 3 training: ``MayaSALM`` + our clip dataset and bucketing sampler + Lightning.

The clips are the Stage-1 train split read through the same ``ClipDataset`` and
``BucketingBatchSampler``; only the clip table differs (its token ids and the sampler's token cap
count Gemma tokens). 2a starts from the Stage-1 ``.nemo`` and the LLM directory; 2b from 2a's
``final.ckpt``; 3 from 2b's, on the Stage-3 clip subset, at ``lr_scale`` times the 2b peak LRs.
Outputs in ``out_dir``: ``final.ckpt`` (reload: ``MayaSALM.load_from_checkpoint(path)``),
``train_summary.json``, ``metrics.csv``, and ``run/`` (checkpoints, logs; a rerun resumes).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from maya.errors import MayaError
from maya.stage1.train import (
    _balance_factors,
    _curve,
    _loader,
    capped_val_split,
    csv_logger,
    inputs_digest,
    latest_checkpoint,
    prepare_run_dir,
)

log = logging.getLogger(__name__)
STAGES = ("stage2a", "stage2b", "stage3")


def stage_optim(settings: Mapping[str, Any], stage: str, max_steps: int) -> dict:
    """Optimizer settings of ``stage``: 2a trains the projection only; 3 runs at ``lr_scale`` x 2b."""
    s2 = settings["stage2"]
    o = s2["optim"]
    if stage == "stage2a":  # the LLM (and any encoder LoRA) is frozen: those LRs are never used
        lr = s2["stage2a"]["projection_lr"]
        lrs = {"projection_lr": lr, "llm_lr": lr, "encoder_lora_lr": lr}
    else:
        scale = settings["stage3"]["lr_scale"] if stage == "stage3" else 1.0
        b = s2["stage2b"]
        lrs = {
            "projection_lr": scale * b["projection_lr"],
            "llm_lr": scale * b["llm_lr"],
            "encoder_lora_lr": scale * b["encoder_lora"]["lr"],
        }
    return {
        **lrs,
        "betas": list(o["betas"]),
        "weight_decay": o["weight_decay"],
        "warmup_steps": o["warmup_steps"],
        "min_lr": o["min_lr_ratio"],
        "max_steps": max_steps,
    }


def max_steps_for(settings: Mapping[str, Any], stage: str) -> int:
    return settings["stage3"]["max_steps"] if stage == "stage3" else settings["stage2"][stage]["max_steps"]


def build_model(
    settings: Mapping[str, Any], stage: str, init: str | Path, llm_dir: str | Path, tokenizer_dir: str | Path
):
    """2a: a new MayaSALM from the Stage-1 .nemo (``init``) and ``llm_dir``; 2b/3: the previous
    stage's ``final.ckpt`` (``init``), continued as ``stage``."""
    from maya.stage2.model import MayaSALM

    s2 = settings["stage2"]
    optim = stage_optim(settings, stage, max_steps_for(settings, stage))
    if stage == "stage2a":
        return MayaSALM(
            {
                "stage": stage,
                "pretrained_llm": str(llm_dir),
                "tokenizer_path": str(tokenizer_dir),
                "pretrained_asr": str(init),
                "pretrained_weights": True,
                "languages": list(settings["languages"]),
                "projection_downsample": s2["projection_downsample"],
                "optim": optim,
                "decoding": dict(s2["decoding"]),
            }
        )
    model = MayaSALM.load_from_checkpoint(str(init), map_location="cpu", weights_only=False)
    return model.for_stage(stage, optim, s2["stage2b"]["encoder_lora"])


def strategy_and_precision(trainer_cfg: Mapping[str, Any], deepspeed_cfg: Mapping[str, Any]):
    """Lightning strategy and Trainer precision. DeepSpeed runs the config's JSON; bf16 under
    DeepSpeed is its ``torch_autocast`` with the Trainer at ``32-true``: Lightning's ``bf16-mixed``
    would switch on DeepSpeed's bf16 mode, which casts the weights to bf16 and breaks NeMo's
    subsampling conv on float32 features. CPU ranks run the same strategy over gloo."""
    if trainer_cfg["strategy"] != "deepspeed":
        return trainer_cfg["strategy"], trainer_cfg["precision"]
    if trainer_cfg["accelerator"] == "cpu":
        from maya.stage2.deepspeed_cpu import CPUDeepSpeedStrategy as DeepSpeedStrategy
    else:
        from lightning.pytorch.strategies import DeepSpeedStrategy

    config, precision = dict(deepspeed_cfg), trainer_cfg["precision"]
    if precision == "bf16-mixed":
        config["torch_autocast"] = {"enabled": True, "dtype": "bfloat16"}
        precision = "32-true"
    return DeepSpeedStrategy(config=config), precision


def save_final(trainer, model, path: Path) -> None:
    """``path`` as one Lightning checkpoint file (weights + hyper-parameters) that
    ``MayaSALM.load_from_checkpoint`` reads. Under DeepSpeed a checkpoint is a directory of ZeRO
    shards: it is consolidated with DeepSpeed's ``get_fp32_state_dict_from_zero_checkpoint``
    (Lightning 2.4's ``convert_zero_checkpoint_to_fp32_state_dict`` fails under torch 2.13)."""
    from lightning.pytorch.strategies import DeepSpeedStrategy

    if not isinstance(trainer.strategy, DeepSpeedStrategy):
        trainer.save_checkpoint(str(path), weights_only=True)
        return
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    shards = path.with_name(path.name + ".zero")
    trainer.save_checkpoint(str(shards), weights_only=True)
    if trainer.is_global_zero:
        state = get_fp32_state_dict_from_zero_checkpoint(str(shards))
        state = {k.removeprefix("_forward_module."): v for k, v in state.items()}
        torch.save(
            {"state_dict": state, "hyper_parameters": dict(model.hparams), "pytorch-lightning_version": pl_version()},
            path,
        )
        shutil.rmtree(shards)


def pl_version() -> str:
    import lightning

    return lightning.__version__


def train(
    settings: Mapping[str, Any],
    stage: str,
    init: str | Path,
    llm_dir: str | Path,
    tokenizer_dir: str | Path,
    splits_dir: str | Path,
    train_clips: str | Path,
    balance_json: str | Path | None,
    out_dir: str | Path,
    *,
    workers: int = 0,
    progress: bool = True,
    run_key: str = "",
    ops: Mapping[str, Any] | None = None,
) -> dict:
    """``ops``: run_name, storage and tracking (maya.operations)."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import LearningRateMonitor

    from maya.clip_table import ClipTable, HFTokenizerEncoder, write_clip_table
    from maya.operations import StageOps
    from maya.stage1.data import ClipDataset, release_free_memory
    from maya.stage1.sampler import BatchCaps, BucketingBatchSampler

    if stage not in STAGES:
        raise MayaError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    s2 = settings["stage2"]
    tr, samp = s2["trainer"], s2["sampler"]
    max_steps = max_steps_for(settings, stage)
    out = Path(out_dir)
    data_key = inputs_digest(
        [train_clips, Path(splits_dir) / "val.parquet", Path(tokenizer_dir) / "tokenizer.json", balance_json, init]
    )
    run_dir = prepare_run_dir(out / "run", f"{run_key}:{data_key}")
    ckpt_dir = run_dir / "checkpoints"
    stage_ops = StageOps(ops, stage, run_dir, f"{run_key}:{data_key}")
    pl.seed_everything(tr["seed"], workers=True)
    if tr["accelerator"] == "gpu" and not torch.cuda.is_available():
        raise MayaError("stage2.trainer.accelerator is gpu but no CUDA device is visible")
    last = latest_checkpoint(ckpt_dir)
    checkpoint = stage_ops.checkpoint_callback(tr["checkpoint_every_n_steps"], last)
    chosen, precision = strategy_and_precision(tr, s2["deepspeed"])
    trainer = pl.Trainer(
        accelerator=tr["accelerator"],
        devices=tr["devices"],
        num_nodes=tr["num_nodes"],
        strategy=chosen,
        precision=precision,
        max_steps=max_steps,
        accumulate_grad_batches=tr["accumulate_grad_batches"],
        gradient_clip_val=(tr["gradient_clip_val"] or None) if tr["strategy"] != "deepspeed" else None,
        val_check_interval=tr["val_check_interval"],
        check_val_every_n_epoch=None,
        log_every_n_steps=tr["log_every_n_steps"],
        logger=stage_ops.loggers(csv_logger(run_dir, tr["log_every_n_steps"]), {"stage2": s2}),
        callbacks=[checkpoint, LearningRateMonitor("step")],
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        enable_model_summary=False,
        default_root_dir=str(run_dir),
    )
    model = build_model(settings, stage, init, llm_dir, tokenizer_dir)

    langs = list(settings["languages"])
    sr = settings["data"]["sample_rate"]
    train_table = ClipTable(train_clips)
    train_ds = ClipDataset(train_table, langs, sr)  # no augmentation: the encoder is frozen
    val_parquet, val_cap = capped_val_split(Path(splits_dir) / "val.parquet", s2["val_max_clips_per_language"], run_dir)
    encode = HFTokenizerEncoder(tokenizer_dir)
    write_clip_table(val_parquet, run_dir / "val_clips.arrow", encode, encode.vocab_size)
    val_table = ClipTable(run_dir / "val_clips.arrow")
    val_ds = ClipDataset(val_table, langs, sr)
    factors = _balance_factors(balance_json)
    caps = BatchCaps(samp["max_batch_duration_s"], samp["max_batch_size"], samp["max_tokens_in_batch"])
    edges = settings["data"]["bucket_edges_s"]
    train_sampler = BucketingBatchSampler(
        train_table.duration_s,
        train_table.num_tokens,
        train_table.group,
        [factors.get(g, 1.0) for g in train_table.groups] if factors else None,
        edges,
        caps,
        seed=tr["seed"],
        rank=trainer.global_rank,
        world_size=trainer.world_size,
    )
    val_sampler = BucketingBatchSampler(
        val_table.duration_s,
        val_table.num_tokens,
        val_table.group,
        None,
        edges,
        caps,
        shuffle=False,
        rank=trainer.global_rank,
        world_size=trainer.world_size,
        drop_last=False,
    )
    if train_sampler.stats["batches_per_rank"] == 0:
        raise MayaError(f"{train_clips}: {len(train_ds)} clips make no batch for {trainer.world_size} ranks")
    model.sampler = train_sampler
    release_free_memory()
    train_dl, val_dl = _loader(train_ds, train_sampler, workers), _loader(val_ds, val_sampler, workers)
    if len(val_ds) == 0:
        val_dl, trainer.limit_val_batches = None, 0

    last = stage_ops.resume_source(trainer, last)
    started = time.time()
    if last is None and val_dl is not None:
        trainer.validate(model, val_dl, verbose=False)  # step 0: where this stage starts
    trainer.fit(model, train_dl, val_dl, ckpt_path=str(last) if last else None)
    zero = None
    engine = getattr(trainer.strategy, "deepspeed_engine", None)
    if engine is not None:  # what DeepSpeed actually ran, not what was asked for
        zero = {
            "zero_stage": engine.zero_optimization_stage(),
            "optimizer": type(engine.optimizer).__name__,
            "client_optimizer": type(getattr(engine, "client_optimizer", None)).__name__,
        }
    # Saved before any final validation: under DeepSpeed, `trainer.validate` after `fit` rebuilds the
    # engine for inference, without the ZeRO optimizer whose partitions the consolidation reads.
    save_final(trainer, model, out / "final.ckpt")  # every rank: a DeepSpeed save is collective
    if val_dl is not None and getattr(model, "last_val_step", None) != trainer.global_step:
        trainer.validate(model, val_dl, verbose=False)
    wall = time.time() - started
    storage = stage_ops.finish(trainer.is_global_zero)
    summary = {}
    if trainer.is_global_zero:
        metrics = getattr(model, "last_val_metrics", {})
        trainable = {n: int(sum(p.numel() for p in ps if p.requires_grad)) for n, ps in model.groups().items()}
        summary = {
            "stage": stage,
            "steps": int(trainer.global_step),
            "max_steps": max_steps,
            "wall_s": round(wall, 1),
            "s_per_step": round(wall / max(1, trainer.global_step), 3),
            "resumed_from": str(last) if last else None,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "devices": trainer.world_size,
            "strategy": type(trainer.strategy).__name__,
            "deepspeed": zero,
            "precision": tr["precision"],
            "init": str(init),
            "encoder_load": model.load_report if stage == "stage2a" else None,
            "llm": {
                k: model.llm.config.to_dict().get(k)
                for k in ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")
            },
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "trainable": trainable,
            "optim": OmegaConf.to_container(model.cfg.optim),
            "train_clips": len(train_ds),
            "val_clips": len(val_ds),
            "val_subset": val_cap,
            "sampler": train_sampler.stats,
            "final_val": {k: v for k, v in metrics.items() if not k.startswith(("val_wer_", "val_cer_"))},
            "final_val_per_language": {
                lang: {"wer": metrics.get(f"val_wer_{lang}"), "cer": metrics.get(f"val_cer_{lang}")}
                for lang in langs
                if f"val_cer_{lang}" in metrics
            },
            "curve": _curve(run_dir / "logs" / "metrics.csv"),
            "storage": storage,
        }
        metrics_csv = run_dir / "logs" / "metrics.csv"
        if metrics_csv.exists():
            shutil.copyfile(metrics_csv, out / "metrics.csv")
        else:
            (out / "metrics.csv").write_text("step\n")
        (out / "train_summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
        log.info("stage %s: %d steps in %.0f s; val CER %s", stage, summary["steps"], wall, metrics.get("val_cer"))
    return summary
