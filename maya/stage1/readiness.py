"""Production readiness gate before GPU training (the seed README's ``make prod-readiness``).

Checks, each with a clear failure message: CUDA GPUs visible and at least as many as the trainer
wants; free disk where checkpoints go (a 1.1B-parameter checkpoint with AdamW state is ~13 GB, and
``save_top_k=-1`` keeps every one); every input artifact present and non-empty; the pretrained
weights readable and carrying encoder tensors. Returns a report; raises ``MayaError`` listing
every failed check at once, so one run tells the operator everything to fix.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping, Sequence

from maya.errors import MayaError


def checkpoint_gb(n_params: int) -> float:
    return n_params * 12 / 1024 ** 3  # fp32 weights + two AdamW moments


def check(stage1: Mapping, artifacts: Sequence[str], checkpoint_dir: str | Path, n_params: int,
          cuda_devices: int | None = None) -> dict:
    import torch

    failures, report = [], {}
    tr = stage1["trainer"]
    visible = torch.cuda.device_count() if cuda_devices is None else cuda_devices
    report["gpus_visible"] = visible
    if tr["accelerator"] == "gpu" and visible < tr["devices"]:
        failures.append(f"GPUs: the trainer wants {tr['devices']}, {visible} visible "
                        "(check CUDA_VISIBLE_DEVICES, the SLURM --gres, or nvidia-smi)")
    if visible and torch.cuda.is_available():
        report["gpu_names"] = [torch.cuda.get_device_name(i) for i in range(visible)]
    ckpt = Path(checkpoint_dir)
    ckpt.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(ckpt).free / 1024 ** 3
    n_ckpt = tr["max_steps"] // tr["checkpoint_every_n_steps"] + 1
    need_gb = checkpoint_gb(n_params) * n_ckpt
    report.update(free_disk_gb=round(free_gb, 1), checkpoints_planned=n_ckpt, checkpoint_disk_gb=round(need_gb, 1))
    if free_gb < need_gb:
        failures.append(f"disk: {ckpt} has {free_gb:.0f} GB free, {n_ckpt} checkpoints need ~{need_gb:.0f} GB")
    missing = [a for a in artifacts if not Path(a).exists() or (Path(a).is_file() and Path(a).stat().st_size == 0)]
    report["artifacts"] = len(artifacts)
    if missing:
        failures.append("artifacts missing or empty: " + ", ".join(missing))
    pretrained = stage1["init"]["pretrained"]
    if pretrained:
        from maya.stage1.init import load_state_dict

        try:
            state = load_state_dict(pretrained)
            n_enc = sum(1 for k in state if k.startswith("encoder.") or k.startswith("layers."))
            report["pretrained_tensors"] = len(state)
            if n_enc == 0:
                failures.append(f"pretrained: {pretrained} has no encoder tensors")
        except MayaError as e:
            failures.append(f"pretrained: {e}")
        except Exception as e:  # torch.load raises many kinds
            failures.append(f"pretrained: {pretrained} is not readable ({type(e).__name__}: {e})")
    if failures:
        raise MayaError("Stage-1 readiness failed:\n  - " + "\n  - ".join(failures))
    report["ok"] = True
    return report
