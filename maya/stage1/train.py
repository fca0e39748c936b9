"""Stage-1 training: NeMo model + our sampler + PyTorch Lightning, resumable, with a summary.

``train(...)`` builds ``MayaHybridTDTCTC`` from ``config["stage1"]``, optionally initialises its
encoder from a pretrained model, and fits it on the train split with the bucketing sampler
(rebalanced by ``results/balance/weights.json``). It validates once before the first step (so the
curve starts at the untrained model), every ``val_check_interval`` steps, and at the end;
checkpoints every ``checkpoint_every_n_steps`` steps plus ``last.ckpt``; and resumes from
``last.ckpt`` (model, optimizer, LR schedule, step and sampler position) when it exists.
Outputs in ``out_dir``: ``final.nemo``, ``checkpoints/``, ``logs/`` (CSV + TensorBoard),
``train_summary.json``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from maya.batching import alignable
from maya.errors import MayaError


def inputs_digest(paths: Sequence[str | Path | None]) -> str:
    """Content hash of the training inputs: new data must not resume an old run."""
    h = hashlib.sha256()
    for p in paths:
        if p is None:
            continue
        h.update(Path(p).name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:16]


def srun_task() -> tuple[int, str] | None:
    """(rank, "job.step") when srun started this process as one of several tasks of a job step."""
    env = os.environ
    if int(env.get("SLURM_STEP_NUM_TASKS", "1")) < 2 or "SLURM_PROCID" not in env:
        return None
    return int(env["SLURM_PROCID"]), f"{env.get('SLURM_JOB_ID', 'x')}.{env.get('SLURM_STEP_ID', 'x')}"


def prepare_run_dir(run_dir: Path, run_key: str, wait_s: float = 600.0) -> Path:
    """The run directory (checkpoints, logs) for ``run_key``: kept across kills so a rerun resumes,
    moved aside when the settings, the code or the input data changed (resuming would mix two runs).

    Under srun every rank starts at once, so rank 0 alone decides and the others wait for its marker,
    written last and named for this job step (a directory from an earlier launch never has it)."""
    task = srun_task()
    if task is not None and task[0] != 0:
        marker, deadline = run_dir / f".prepared-{task[1]}", time.monotonic() + wait_s
        while not marker.exists():
            if time.monotonic() > deadline:
                raise MayaError(f"rank {task[0]}: rank 0 did not prepare {run_dir} within {wait_s:.0f} s")
            time.sleep(0.2)
        return run_dir
    key_file = run_dir / "run_key"
    if run_dir.exists() and key_file.exists() and key_file.read_text() != run_key:
        stale = run_dir.with_name(f"{run_dir.name}.stale-{int(time.time())}")
        run_dir.rename(stale)
        logging.getLogger(__name__).warning(
            "settings, code or input data changed since %s was written: moved it to %s and "
            "training starts from scratch",
            run_dir,
            stale,
        )
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    key_file.write_text(run_key)
    if task is not None:
        (run_dir / f".prepared-{task[1]}").write_text(run_key)
    return run_dir


def complete_checkpoint(path: Path) -> bool:
    """Whether a checkpoint was written to the end: ``torch.save`` writes a zip whose directory comes
    last, so a kill in mid-write leaves a file without one. A DeepSpeed checkpoint is a directory."""
    import zipfile

    return path.is_dir() or (path.is_file() and zipfile.is_zipfile(path))


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """``last.ckpt``, or the newest complete step checkpoint when a kill came before (or while)
    ``last.ckpt`` was written."""
    last = ckpt_dir / "last.ckpt"
    steps = sorted(ckpt_dir.glob("step*.ckpt"), key=lambda p: p.name, reverse=True)  # step0000600 > step0000300
    for path in [last, *steps]:
        if complete_checkpoint(path):
            return path
        if path.exists():
            logging.getLogger(__name__).warning(
                "%s is incomplete (killed while writing it): not resuming from it", path
            )
    return None


def _balance_factors(weights_json: str | Path | None) -> dict:
    if not weights_json:
        return {}
    data = json.loads(Path(weights_json).read_text())
    return {f"{e['corpus']}/{e['language']}": e["repeat_factor"] for e in data["entries"]}


def build_model(config: Mapping[str, Any], tokenizer_dir: str | Path, trainer=None):
    from maya.stage1.model import MayaHybridTDTCTC, nemo_config

    cfg = nemo_config(config["stage1"], tokenizer_dir, config["languages"], config["data"]["sample_rate"])
    return MayaHybridTDTCTC(cfg, trainer=trainer)


def csv_logger(run_dir: Path, flush_every: int):
    """Lightning's CSVLogger, writing ``hparams.yaml`` once: the stock one rewrites it (NeMo's whole
    config, ~0.6 s) at every flush, which cost the CPU demo a tenth of its training time."""
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter

    class Writer(ExperimentWriter):
        written = None

        def save(self) -> None:
            if self.written != self.hparams:
                super().save()
                self.written = dict(self.hparams)
            else:
                super(ExperimentWriter, self).save()  # the metrics CSV only

    class Logger(CSVLogger):
        @property
        def experiment(self):
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = Writer(log_dir=self.log_dir)
            return self._experiment

    return Logger(str(run_dir), name="logs", version="", flush_logs_every_n_steps=flush_every)


def _loader(dataset, sampler, workers: int):
    from maya.stage1.data import collate

    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
    )


def _curve(metrics_csv: Path) -> list[dict]:
    """Validation rows of Lightning's CSV log: step, val_wer, val_cer (+ CTC, + per language)."""
    if not metrics_csv.exists():
        return []
    rows = []
    with open(metrics_csv) as f:
        for r in csv.DictReader(f):
            if r.get("val_cer"):
                rows.append(
                    {
                        k: (float(v) if k != "step" else int(float(v)))
                        for k, v in r.items()
                        if v not in ("", None) and (k.startswith("val_") or k == "step")
                    }
                )
    return rows


def capped_val_split(val_parquet: Path, cap: int | None, run_dir: Path) -> tuple[Path, dict | None]:
    """The val split, or at most ``cap`` clips per language of it: the same subset every run (the
    clips with the smallest hash of their id), so validation curves stay comparable."""
    if cap is None:
        return val_parquet, None
    import hashlib

    import pyarrow as pa
    import pyarrow.compute as pc

    t = pq.read_table(val_parquet)
    keys = [
        hashlib.sha256(f"{c}/{s}".encode()).hexdigest()
        for c, s in zip(t.column("corpus").to_pylist(), t.column("segment_id").to_pylist(), strict=True)
    ]  # val split: small
    t = t.append_column("_key", pa.array(keys)).sort_by([("language", "ascending"), ("_key", "ascending")])
    lang = t.column("language").to_numpy(zero_copy_only=False)
    first = np.r_[0, np.flatnonzero(lang[1:] != lang[:-1]) + 1]
    rank = np.arange(len(lang)) - np.repeat(first, np.diff(np.r_[first, len(lang)]))
    capped = t.filter(pa.array(rank < cap)).drop_columns(["_key"])
    out = run_dir / "val_subset.parquet"
    tmp = run_dir / f".val_subset.{os.getpid()}.parquet"  # DDP ranks write the same file: atomically
    pq.write_table(capped, tmp)
    os.replace(tmp, out)
    before = dict(zip(*np.unique(lang, return_counts=True), strict=True)) if len(lang) else {}
    after = pc.value_counts(capped.column("language")).to_pylist() if capped.num_rows else []
    return out, {
        "max_clips_per_language": cap,
        "clips_before": {str(k): int(v) for k, v in before.items()},
        "clips_after": {d["values"]: d["counts"] for d in after},
    }


def train(
    config: Mapping[str, Any],
    splits_dir: str | Path,
    train_clips: str | Path,
    tokenizer_dir: str | Path,
    balance_json: str | Path | None,
    out_dir: str | Path,
    *,
    noise_files: Sequence[str] = (),
    workers: int = 0,
    progress: bool = True,
    run_key: str = "",
    ops: Mapping[str, Any] | None = None,
) -> dict:
    """``ops``: run_name, storage and tracking (maya.operations); absent: local checkpoints and
    CSV + TensorBoard logs only."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import LearningRateMonitor

    from maya.clip_table import ClipTable, SentencePieceEncoder, write_clip_table
    from maya.operations import StageOps
    from maya.stage1.data import ClipDataset, WaveAugment, release_free_memory
    from maya.stage1.init import init_from_pretrained
    from maya.stage1.sampler import BatchCaps, BucketingBatchSampler

    s1 = config["stage1"]
    tr, aug, samp = s1["trainer"], s1["augment"], s1["sampler"]
    out = Path(out_dir)
    data_key = inputs_digest(
        [train_clips, Path(splits_dir) / "val.parquet", Path(tokenizer_dir) / "tokenizer.model", balance_json]
    )
    run_dir = prepare_run_dir(out / "run", f"{run_key}:{data_key}")
    ckpt_dir = run_dir / "checkpoints"
    stage_ops = StageOps(ops, "stage1", run_dir, f"{run_key}:{data_key}")
    pl.seed_everything(tr["seed"], workers=True)

    accelerator = tr["accelerator"]
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise MayaError(
            "stage1.trainer.accelerator is gpu but no CUDA device is visible "
            "(run the demo config on CPU, or check CUDA_VISIBLE_DEVICES)"
        )
    loggers = stage_ops.loggers(csv_logger(run_dir, tr["log_every_n_steps"]), {"stage1": s1})
    last = latest_checkpoint(ckpt_dir)
    checkpoint = stage_ops.checkpoint_callback(tr["checkpoint_every_n_steps"], last)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=tr["devices"],
        num_nodes=tr["num_nodes"],
        strategy=tr["strategy"],
        precision=tr["precision"],
        max_steps=tr["max_steps"],
        accumulate_grad_batches=tr["accumulate_grad_batches"],
        gradient_clip_val=tr["gradient_clip_val"] or None,
        val_check_interval=tr["val_check_interval"],
        check_val_every_n_epoch=None,
        log_every_n_steps=tr["log_every_n_steps"],
        logger=loggers,
        callbacks=[checkpoint, LearningRateMonitor(logging_interval="step")],
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        enable_model_summary=False,
        default_root_dir=str(run_dir),
    )
    model = build_model(config, tokenizer_dir, trainer=trainer)

    init_report = None
    init = s1["init"]
    last = stage_ops.resume_source(trainer, last)
    if init["pretrained"] and last is None:
        init_report = init_from_pretrained(
            model, init["pretrained"], init["include"], init["exclude"], init.get("expand")
        )

    langs = list(config["languages"])
    train_table = ClipTable(train_clips)  # memory-mapped: ranks and workers share the page cache
    train_ds = ClipDataset(
        train_table,
        langs,
        config["data"]["sample_rate"],
        WaveAugment(
            speed_factors=tuple(aug["speed_perturb"]),
            noise_snr_db=tuple(aug["noise_snr_db"]),
            noise_prob=aug["noise_prob"],
            noise_files=tuple(noise_files),
            seed=tr["seed"],
        ),
    )
    val_parquet, val_cap = capped_val_split(Path(splits_dir) / "val.parquet", s1["val_max_clips_per_language"], run_dir)
    encode = SentencePieceEncoder(Path(tokenizer_dir) / "tokenizer.model")
    write_clip_table(val_parquet, run_dir / "val_clips.arrow", encode, encode.vocab_size)
    val_table = ClipTable(run_dir / "val_clips.arrow")
    val_ds = ClipDataset(val_table, langs, config["data"]["sample_rate"])
    factors = _balance_factors(balance_json)
    caps = BatchCaps(samp["max_batch_duration_s"], samp["max_batch_size"], samp["max_tokens_in_batch"])
    edges = config["data"]["bucket_edges_s"]
    sub = s1["model"]["subsampling_factor"]
    keep = alignable(train_table.duration_s, train_table.num_tokens, sub)
    if not keep.all():
        logging.getLogger(__name__).warning(
            "%d train clips have more tokens than encoder frames (subsampling %d): left out, CTC/TDT cannot align them",
            int((~keep).sum()),
            sub,
        )
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
        keep=keep,
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
        raise MayaError(
            f"{train_clips}: {len(train_ds)} train clips make {train_sampler.stats['batches']} batches, "
            f"fewer than the {trainer.world_size} ranks; add data or use fewer devices"
        )
    model.sampler = train_sampler
    release_free_memory()  # the plan's temporaries, before the DataLoader forks workers
    train_dl, val_dl = _loader(train_ds, train_sampler, workers), _loader(val_ds, val_sampler, workers)

    if len(val_ds) == 0:
        logging.getLogger(__name__).warning(
            "%s has no clips: training without validation", Path(splits_dir) / "val.parquet"
        )
        val_dl = None
        trainer.limit_val_batches = 0
    started = time.time()
    resumed_from = str(last) if last is not None else None
    if resumed_from is None and val_dl is not None:
        trainer.validate(model, val_dl, verbose=False)  # step 0: the untrained model's WER/CER
    trainer.fit(model, train_dl, val_dl, ckpt_path=resumed_from)
    if val_dl is not None and getattr(model, "last_val_step", None) != trainer.global_step:
        trainer.validate(model, val_dl, verbose=False)  # the final model, unless fit just did
    wall = time.time() - started
    storage = stage_ops.finish(trainer.is_global_zero)

    summary = {}
    if trainer.is_global_zero:
        model.save_to(str(out / "final.nemo"))
        metrics = getattr(model, "last_val_metrics", {})
        per_lang = {
            lang: {"wer": metrics.get(f"val_wer_{lang}"), "cer": metrics.get(f"val_cer_{lang}")}
            for lang in langs
            if f"val_wer_{lang}" in metrics
        }
        summary = {
            "steps": int(trainer.global_step),
            "max_steps": tr["max_steps"],
            "wall_s": round(wall, 1),
            "resumed_from": resumed_from,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "devices": trainer.world_size,
            "num_nodes": trainer.num_nodes,
            "precision": tr["precision"],
            "train_clips": len(train_ds),
            "val_clips": len(val_ds),
            "val_subset": val_cap,
            "sampler": train_sampler.stats,
            "final_val": {k: metrics.get(k) for k in ("val_wer", "val_cer", "val_wer_ctc", "val_cer_ctc")},
            "final_val_per_language": per_lang,
            "curve": _curve(run_dir / "logs" / "metrics.csv"),
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "init": init_report,
            "storage": storage,
        }
        if (run_dir / "logs" / "metrics.csv").exists():
            shutil.copyfile(run_dir / "logs" / "metrics.csv", out / "metrics.csv")
        else:  # nothing was logged (e.g. a resumed run that had already reached max_steps)
            (out / "metrics.csv").write_text("step\n")
        (out / "train_summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return summary
