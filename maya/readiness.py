"""Readiness gates before GPU training (the seed README's ``make prod-readiness``): the checks every
training stage shares. Each stage adds its own (Stage 1: the pretrained weights; Stage 2: the LLM,
DeepSpeed, bf16) and calls ``conclude``, which raises one ``MayaError`` listing every failure, so
one run tells the operator everything to fix."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from maya.errors import MayaError


def checkpoint_gb(n_params: int) -> float:
    return n_params * 12 / 1024**3  # fp32 weights + two AdamW moments


def shared_checks(
    trainer: Mapping,
    max_steps: int,
    artifacts: Sequence[str],
    checkpoint_dir: str | Path,
    n_params: int,
    cuda_devices: int | None = None,
    storage: Mapping | None = None,
    plan: Mapping | None = None,
) -> tuple[list[str], dict]:
    """GPUs visible and at least as many as ``trainer`` wants; free disk where checkpoints go (a
    1B-parameter checkpoint with AdamW state is ~13 GB: every one, or the ``storage.keep_local``
    newest plus last.ckpt); every input artifact present and non-empty; with offload on, the store:
    credentials, the bucket, a probe object written, read back and deleted; and, given the stage's
    entry of the launch plan, that its memory per rank and its local checkpoints fit. Returns
    (failures, report)."""
    import torch

    failures, report = [], {}
    visible = torch.cuda.device_count() if cuda_devices is None else cuda_devices
    report["gpus_visible"] = visible
    if trainer["accelerator"] == "gpu" and visible < trainer["devices"]:
        failures.append(
            f"GPUs: the trainer wants {trainer['devices']}, {visible} visible "
            "(check CUDA_VISIBLE_DEVICES, the SLURM --gres, or nvidia-smi)"
        )
    if visible and torch.cuda.is_available():
        report["gpu_names"] = [torch.cuda.get_device_name(i) for i in range(visible)]
    ckpt = Path(checkpoint_dir)
    ckpt.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(ckpt).free / 1024**3
    n_ckpt = max_steps // trainer["checkpoint_every_n_steps"] + 1
    keep = (storage or {}).get("keep_local")
    if keep:
        n_ckpt = min(n_ckpt, keep + 1)  # + last.ckpt
    need_gb = checkpoint_gb(n_params) * n_ckpt
    report.update(
        free_disk_gb=round(free_gb, 1),
        checkpoints_planned=n_ckpt,
        checkpoint_disk_gb=round(need_gb, 1),
        parameters=n_params,
    )
    if free_gb < need_gb:
        failures.append(f"disk: {ckpt} has {free_gb:.0f} GB free, {n_ckpt} checkpoints need ~{need_gb:.0f} GB")
    missing = [a for a in artifacts if not Path(a).exists() or (Path(a).is_file() and Path(a).stat().st_size == 0)]
    report["artifacts"] = len(artifacts)
    if missing:
        failures.append("artifacts missing or empty: " + ", ".join(missing))
    if plan:
        mem, disk = plan["memory"], plan["disk"]
        report["plan"] = {"memory_gb": round(mem["per_rank_gb"], 1), "local_checkpoints_gb": round(disk["local_gb"], 1)}
        if mem["verdict"] != "fits":
            failures.append(
                f"plan: {mem['per_rank_gb']:.1f} GB per rank predicted, over the {mem['budget_gb']:.0f} GB budget "
                "(results/plan/launch_plan.md; lower the sampler caps or add ranks)"
            )
        if disk["local_gb"] > free_gb:
            failures.append(
                f"plan: {disk['kept_locally']} local checkpoints need {disk['local_gb']:.0f} GB, {free_gb:.0f} GB free "
                "in the checkpoint folder (set storage.keep_local, or free disk)"
            )
    if storage and storage.get("enabled"):
        from maya.storage import StorageSettings, probe

        s = StorageSettings.from_config(storage)
        problems = probe(s)
        failures += problems
        report["storage"] = {"bucket": s.bucket, "endpoint_url": s.endpoint_url, "ok": not problems}
    return failures, report


def add_gate_arguments(p) -> None:
    """The arguments every gate's entry point takes (workflow_scripts/stage*_readiness.py)."""
    p.add_argument("--artifacts", nargs="*", default=[], help="inputs of the training rule: each must exist, non-empty")
    p.add_argument("--checkpoint-dir", required=True, help="where training writes checkpoints (free disk is checked)")
    p.add_argument("--out", required=True, help="the readiness report (JSON), written only when every check passes")
    p.add_argument(
        "--ops",
        default=os.environ.get("MAYA_OPS", "{}"),
        help="JSON: run_name, storage, tracking (the store is probed when on; default: $MAYA_OPS, set by the workflow)",
    )
    p.add_argument(
        "--plan", help="results/plan/launch_plan.json: the launch is refused if it says memory or disk fails"
    )


def plan_entry(path: str | None, stage: str) -> dict | None:
    """The stage's entry of the launch plan JSON (None without a plan)."""
    return json.loads(Path(path).read_text())["stages"][stage] if path else None


def write_report(report: dict, out: str | Path) -> None:
    text = json.dumps(report, indent=1)
    Path(out).write_text(text + "\n")
    print(text)


def conclude(stage: str, failures: list[str], report: dict) -> dict:
    if failures:
        raise MayaError(f"{stage} readiness failed:\n  - " + "\n  - ".join(failures))
    report["ok"] = True
    return report
