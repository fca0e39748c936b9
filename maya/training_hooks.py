"""Lightning hooks Stages 1 and 2 share: the sampler position in checkpoints (so a resumed run
continues the same batch order), and validation records gathered over ranks and scored per
language."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class SamplerState:
    """Mixin for a LightningModule whose ``self.sampler`` is the training ``BucketingBatchSampler``."""

    sampler = None

    def on_train_start(self):
        state = getattr(self, "_pending_sampler_state", None)
        if state and self.sampler is not None:
            self.sampler.load_state_dict(state)
        self._pending_sampler_state = None

    def on_save_checkpoint(self, checkpoint):
        if self.sampler is not None:
            checkpoint["maya_sampler"] = self.sampler.state_dict()

    def on_load_checkpoint(self, checkpoint):
        self._pending_sampler_state = checkpoint.get("maya_sampler")


def gather_records(records: list[dict]) -> list[dict]:
    """Every rank's validation records (each rank scored its own share of the clips)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        gathered = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(gathered, records)
        return [r for part in gathered for r in part]
    return records


def error_rate_metrics(records: Sequence[dict], hyp: str, suffix: str = "", per_language: bool = True) -> dict:
    """``val_wer{suffix}``, ``val_cer{suffix}`` over all records (reference ``ref``, hypothesis ``hyp``)
    and, with ``per_language``, ``val_wer_{lang}`` / ``val_cer_{lang}``."""
    from maya.scoring import error_rates

    overall = error_rates([r["ref"] for r in records], [r[hyp] for r in records])
    out = {f"val_wer{suffix}": overall["wer"], f"val_cer{suffix}": overall["cer"]}
    if per_language:
        for lang in sorted({r["lang"] for r in records}):
            sel = [r for r in records if r["lang"] == lang]
            er = error_rates([r["ref"] for r in sel], [r[hyp] for r in sel])
            out[f"val_wer_{lang}"], out[f"val_cer_{lang}"] = er["wer"], er["cer"]
    return out


class ValidationRecords:
    """Mixin: ``validation_step`` appends per-clip records to ``self._val_records``; at the end of
    validation every rank's records are scored by ``self.val_metrics(records)`` and logged."""

    def on_validation_epoch_start(self):
        self._val_records = []

    def on_validation_epoch_end(self):
        records = gather_records(self._val_records)
        if not records:
            return
        metrics = self.val_metrics(records)
        for k, v in metrics.items():
            self.log(k, float(v), on_epoch=True, sync_dist=False, rank_zero_only=True)
        self.last_val_metrics = metrics
        self.last_val_step = int(self.trainer.global_step) if self._trainer is not None else None
        self._val_records = []
