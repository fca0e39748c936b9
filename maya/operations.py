"""What a training stage needs to be operated over a week: where its checkpoints go (local retention
and verified offload to object storage), where it resumes from (the run directory, or the bucket
after the node was lost), and where it is watched (CSV always, TensorBoard, MLflow, W&B).

Stages 1, 2a, 2b and 3 share this; their settings travel as one ``--ops`` JSON
(``run_name``, ``storage``, ``tracking``), kept out of the run key: a new bucket or tracker never
restarts a run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maya.config import section_settings
from maya.storage import CheckpointOffload, StorageSettings, fetch_latest, make_client, offload_callback, remote_base

log = logging.getLogger(__name__)


class StageOps:
    def __init__(self, ops: Mapping[str, Any] | None, stage: str, run_dir: Path, run_key: str) -> None:
        ops = dict(ops or {})
        self.stage, self.run_dir, self.run_key = stage, Path(run_dir), run_key
        self.run_name = ops.get("run_name") or "run"
        self.storage = StorageSettings.from_config(ops.get("storage"))
        self.tracking = section_settings("tracking", ops.get("tracking"))
        # One prefix per run key: a restarted run (other settings or data) never mixes with the old one.
        self.base = f"{remote_base(self.storage, self.run_name, stage)}/{run_key.replace(':', '-')}"
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.offload: CheckpointOffload | None = None
        self.resumed_from_bucket: str | None = None

    # -- resume ---------------------------------------------------------------------------------------
    def resume_source(self, trainer, local: Path | None) -> Path | None:
        """The local checkpoint if there is one; else, with offload on, the newest verified one of
        this run key in the bucket (downloaded by each node's local rank 0; under srun the node's other
        ranks wait for it, elsewhere Lightning starts them after this has run)."""
        if local is not None or not self.storage.enabled:
            if local is not None:
                self._protect(local)
            return local
        marker = (
            self.ckpt_dir / f".fetched-{os.environ.get('SLURM_JOB_ID', 'x')}.{os.environ.get('SLURM_STEP_ID', 'x')}"
        )
        if trainer.local_rank == 0:
            try:
                path = fetch_latest(make_client(self.storage), self.storage, self.base, self.run_key, self.ckpt_dir)
            except Exception as e:  # the store unreachable: start afresh rather than not at all
                log.warning("could not look for checkpoints in the bucket (%s): training starts from scratch", e)
                path = None
            marker.write_text(path.name if path else "")
        else:
            if "SLURM_JOB_ID" not in os.environ:
                return _local_latest(self.ckpt_dir)
            deadline = time.monotonic() + self.storage.drain_timeout_s
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(1.0)
            name = marker.read_text().strip() if marker.exists() else ""
            path = self.ckpt_dir / name if name else None
        if path is not None:
            self.resumed_from_bucket = f"s3://{self.storage.bucket}/{self.base}/{path.name}"
            self._protect(path)
        return path

    def _protect(self, path: Path) -> None:
        """Retention never deletes the checkpoint the run resumes from (Lightning issue 21813)."""
        if self.offload is not None:
            self.offload.protect = Path(path).resolve()

    # -- checkpoints ----------------------------------------------------------------------------------
    def checkpoint_callback(self, every_n_steps: int, resume_from: Path | None):
        """Lightning's ModelCheckpoint (every ``every_n_steps`` + ``last.ckpt``), handing each step
        checkpoint to the offloader; retention never deletes ``resume_from``."""
        self.offload = CheckpointOffload(
            self.storage,
            self.ckpt_dir,
            self.base,
            {"run_name": self.run_name, "stage": self.stage, "run_key": self.run_key},
            protect=resume_from,
        )
        cls = offload_callback(self.offload)
        return cls(
            dirpath=str(self.ckpt_dir),
            filename="step{step:07d}",
            auto_insert_metric_name=False,
            every_n_train_steps=every_n_steps,
            save_top_k=-1,
            save_last=True,
        )

    def finish(self, is_global_zero: bool) -> dict:
        """Wait for pending uploads (rank 0), apply retention; the storage part of train_summary.json."""
        out: dict[str, Any] = {"enabled": self.storage.enabled, "resumed_from_bucket": self.resumed_from_bucket}
        if self.storage.enabled:
            out["location"] = f"s3://{self.storage.bucket}/{self.base}/"
        if self.offload is not None and is_global_zero:
            out.update(self.offload.drain().summary())
        return out

    # -- tracking -------------------------------------------------------------------------------------
    def loggers(self, csv_logger, hparams: Mapping[str, Any]) -> list:
        """The CSV logger (always: metrics.csv and the summary's curve come from it) plus what
        ``tracking.loggers`` names. ``hparams`` (the stage's settings, the run name and key) go to the
        trackers; no credential is ever part of them."""
        out = [csv_logger]
        wanted = self.tracking["loggers"]
        name = f"{self.run_name}/{self.stage}"
        if "tensorboard" in wanted:
            from lightning.pytorch.loggers import TensorBoardLogger

            out.append(TensorBoardLogger(str(self.run_dir), name="logs", version="tb"))
        if "mlflow" in wanted:
            from lightning.pytorch.loggers import MLFlowLogger

            m = self.tracking["mlflow"]
            out.append(
                MLFlowLogger(
                    experiment_name=m["experiment"],
                    run_name=name,
                    tracking_uri=m["tracking_uri"] or f"file:{self.run_dir / 'mlruns'}",
                    tags={"run_name": self.run_name, "stage": self.stage, "run_key": self.run_key},
                )
            )
        if "wandb" in wanted:
            from lightning.pytorch.loggers import WandbLogger

            w = self.tracking["wandb"]
            out.append(
                WandbLogger(
                    project=w["project"],
                    entity=w["entity"],
                    name=name,
                    save_dir=str(self.run_dir),
                    offline=w["mode"] == "offline",
                    tags=[self.stage],
                )
            )
        flat = _flatten({"run_name": self.run_name, "stage": self.stage, "run_key": self.run_key, **hparams})
        for logger in out[1:]:
            if type(logger).__name__ != "TensorBoardLogger":
                logger.log_hyperparams(flat)
        return out


def _local_latest(ckpt_dir: Path) -> Path | None:
    from maya.stage1.train import latest_checkpoint

    return latest_checkpoint(ckpt_dir)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
    return out
