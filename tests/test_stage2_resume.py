"""Stage 3 resumes after a kill, and the Stage-2 readiness gate fails fast without GPUs: each on a
private copy of the session's Stage-2 run (tests/conftest.py)."""

import json

import pytest
import torch

from tests.helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow


def test_stage3_resumes_after_a_kill(stage2_copy):
    stage2_run = stage2_copy
    from tests.helpers import kill_snakemake_at

    # Stage 3's own settings only (the module's run checkpoints every 2 steps): 2a and 2b stay as they are.
    write_config(stage2_run / "resume.yaml", {"stage3": {"max_steps": 8}})
    args = ("results/stage3/final.ckpt", "--cores", "2", "--configfile", "tiny.yaml", "resume.yaml")
    ckpts = stage2_run / "results/stage3/run/checkpoints"
    kill_snakemake_at(stage2_run, ckpts / "step0000004.ckpt", *args)
    snakemake(stage2_run, "--unlock", "--configfile", "tiny.yaml", "resume.yaml")
    snakemake(stage2_run, *args)
    summary = json.loads((stage2_run / "results/stage3/train_summary.json").read_text())
    assert summary["resumed_from"] and summary["resumed_from"].endswith(".ckpt") and summary["steps"] == 8
    last = torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 8 and last["maya_sampler"]["consumed"] >= 1
    assert "Restoring states from the checkpoint" in (stage2_run / "logs/stage3/train.log").read_text()
    assert planned_jobs(stage2_run, "results/stage3/final.ckpt", "--configfile", "tiny.yaml", "resume.yaml") == {}


def test_readiness_gate_fails_fast_without_gpus(stage2_copy):
    stage2_run = stage2_copy
    write_config(stage2_run / "gpu.yaml", {"stage2": {"trainer": {"accelerator": "gpu", "devices": 8}}})
    before = (stage2_run / "results/stage2a/final.ckpt").stat().st_mtime
    proc = snakemake(
        stage2_run, "results/stage2a/final.ckpt", "--cores", "2", "--configfile", "tiny.yaml", "gpu.yaml", check=False
    )
    assert proc.returncode != 0
    log = (stage2_run / "logs/stage2a/readiness.log").read_text()
    assert "Stage-2a readiness failed" in log and "GPUs: the trainer wants 8, 0 visible" in log
    assert (stage2_run / "results/stage2a/final.ckpt").stat().st_mtime == before
