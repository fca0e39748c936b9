"""The launch plan (maya/plan.py): ZeRO-2 memory arithmetic, the readiness refusal, the loader verdict
and the calibration hand-over on the tiny run's real clip tables, and `make gpu-check` on CPU."""

import json
import subprocess
import sys

import pytest
import yaml

from maya.plan import zero2_gb
from maya.readiness import shared_checks
from tests.helpers import REPO, TINY_CONFIG, snakemake, write_config

GB = 2**30


def test_zero2_partitions_gradients_and_optimizer_state_over_the_ranks():
    one = zero2_gb(2_000_000_000, 1_000_000_000, 1, 0.0)
    eight = zero2_gb(2_000_000_000, 1_000_000_000, 8, 3.0)
    assert one["weights"] == eight["weights"] == pytest.approx(8e9 / GB)  # fp32 weights on every rank
    assert one["grads_and_optimizer"] == pytest.approx(16e9 / GB)  # grads 4 + AdamW fp32 copy and moments 12
    assert eight["grads_and_optimizer"] == pytest.approx(16e9 / 8 / GB)
    assert eight["total"] == pytest.approx(8e9 / GB + 2e9 / GB + 3.0)


def test_readiness_refuses_a_launch_the_plan_says_does_not_fit(tmp_path):
    trainer = {"accelerator": "cpu", "devices": 1, "checkpoint_every_n_steps": 10}
    entry = {
        "memory": {"per_rank_gb": 91.3, "budget_gb": 75, "verdict": "FAILS"},
        "disk": {"local_gb": 1e9, "kept_locally": 41},
    }
    failures, report = shared_checks(trainer, 100, [], tmp_path, 1000, cuda_devices=0, plan=entry)
    assert any(f.startswith("plan: 91.3 GB per rank predicted, over the 75 GB budget") for f in failures)
    assert any(f.startswith("plan: 41 local checkpoints need") for f in failures)
    ok = {
        "memory": {"per_rank_gb": 40.0, "budget_gb": 75, "verdict": "fits"},
        "disk": {"local_gb": 0.1, "kept_locally": 3},
    }
    assert shared_checks(trainer, 100, [], tmp_path, 1000, cuda_devices=0, plan=ok)[0] == []


@pytest.mark.workflow
def test_plan_on_the_tiny_run(tiny_copy, monkeypatch):
    snakemake(tiny_copy, "--cores", "2", "results/plan/launch_plan.md", "--configfile", "tiny.yaml")
    plan = json.loads((tiny_copy / "results/plan/launch_plan.json").read_text())
    assert list(plan["stages"]) == ["stage1", "stage2a", "stage2b", "stage3"]
    s1 = plan["stages"]["stage1"]
    assert s1["steps"] == TINY_CONFIG["stage1"]["trainer"]["max_steps"] and s1["sampled_batches"] > 0
    assert set(s1["per_gpu_step"]["tflops"]) == {"encoder", "prediction", "joint", "ctc"}
    assert 0 <= s1["padding_share"] < 1 and s1["memory"]["verdict"] == "fits"
    assert plan["gpu"]["utilisation_from"].startswith("assumed")
    assert plan["data_loading"]["measured_per_worker"]["clips_per_s"] > 0
    assert "# Launch plan" in (tiny_copy / "results/plan/launch_plan.md").read_text()

    # A GPU calibration replaces the assumed utilisation; a loader slower than the steps need is named.
    import maya.plan as planning
    from maya.config import deep_update, validate_config

    cfg = validate_config(deep_update(yaml.safe_load((REPO / "config.yaml").read_text()), TINY_CONFIG))
    monkeypatch.setattr(
        planning, "loader_throughput", lambda *a, **k: {"clips_per_s": 1e-6, "audio_s_per_s": 1e-6, "clips": 1}
    )
    monkeypatch.chdir(tiny_copy)
    again = planning.launch_plan(
        cfg,
        "results/batching/train_clips.arrow",
        "results/stage2/train_clips.arrow",
        "results/balance/weights.json",
        {"stage1": 10**6, "stage2": 2 * 10**6, "encoder": 10**6, "projection": 10**4, "llm": 10**6},
        {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "intermediate_size": 128,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 32,
            "vocab_size": 262157,
        },
        {"stage1": {"achieved_utilisation": 0.21}},
        workers=1,
    )
    assert again["gpu"]["utilisation"] == 0.21 and again["gpu"]["utilisation_from"].startswith("measured")
    assert {v["verdict"] for v in again["data_loading"]["stages"].values()} == {"loader-bound"}


def test_gpu_check_runs_on_cpu_with_a_tiny_model(tmp_path):
    overlay = write_config(
        tmp_path / "small.yaml",
        {
            "data": {"bucket_edges_s": [0, 2, 4]},
            "stage1": {"sampler": {"max_batch_duration_s": 8}},
            "stage2": {"sampler": {"max_batch_duration_s": 8}},
        },
    )
    out = tmp_path / "calibration.json"
    proc = subprocess.run(
        [
            sys.executable,
            "workflow_scripts/gpu_check.py",
            "--configfile",
            "config.yaml",
            str(overlay),
            "--steps",
            "2",
            "--stage2-steps",
            "2",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cal = json.loads(out.read_text())
    assert cal["tdt_loss"]["skipped"].startswith("no CUDA")
    assert cal["stage1"]["steps"] == 2 and cal["stage1"]["batch"] == {"clips": 2, "seconds": 4, "tokens_per_clip": 50}
    assert cal["stage1"]["tflops_per_step"] > 0 and cal["stage1"]["predicted_peak_gb"] > 0
    assert cal["decode"]["rtfx"] > 0 and cal["stage2b"]["steps"] == 2
