"""Stages 2 and 3 inside the workflow: 2a from the tiny run's Stage-1 model, 2b from 2a, 3 from 2b on
the cleanest clips, all through Snakemake on the tiny corpus; what each trained, that final.ckpt
reloads with one call, ZeRO-2, and the report with every stage."""

import json

import pytest
import torch

from tests.helpers import TINY_CONFIG, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow
STAGE2 = {
    "stage2": {
        "stage2a": {"max_steps": 3},
        "stage2b": {"max_steps": 2},
        "trainer": {"val_check_interval": 2, "checkpoint_every_n_steps": 2, "log_every_n_steps": 1},
    },
    "stage3": {"max_steps": 2, "top_fraction": 0.5},
}


@pytest.fixture(scope="module")
def stage2_run(tmp_path_factory, tiny_run):
    import shutil

    root = tmp_path_factory.mktemp("stage2") / "repo"
    shutil.copytree(tiny_run, root, symlinks=True)
    write_config(root / "tiny.yaml", {**TINY_CONFIG, **STAGE2})
    snakemake(root, "results/stage3/final.ckpt", "--cores", "2", "--configfile", "tiny.yaml")
    return root


def test_stage_2a_trains_the_projection_only_and_2b_the_llm_too(stage2_run):
    a = json.loads((stage2_run / "results/stage2a/train_summary.json").read_text())
    b = json.loads((stage2_run / "results/stage2b/train_summary.json").read_text())
    assert (a["stage"], a["steps"], b["stage"], b["steps"]) == ("stage2a", 3, "stage2b", 2)
    assert a["trainable"]["projection"] > 0 and a["trainable"]["llm"] == a["trainable"]["encoder"] == 0
    assert b["trainable"]["llm"] > 0 and b["trainable"]["encoder"] == 0
    assert a["encoder_load"]["encoder_tensors_loaded"] > 0
    assert "lang_embedding" in a["encoder_load"]["stage1_modules_not_used"]
    assert a["init"].endswith("results/stage1/final.nemo") and b["init"].endswith("results/stage2a/final.ckpt")
    assert a["llm"]["vocab_size"] == 262144 + 1 + len(TINY_CONFIG["languages"])  # resized for the added tokens
    for s in (a, b):
        assert [r["step"] for r in s["curve"]][0] == 0  # validated before training
        assert {"val_cer", "val_wer", "val_over_length"} <= set(s["curve"][-1])
        assert set(s["final_val_per_language"]) <= set(TINY_CONFIG["languages"])
    assert (stage2_run / "logs/stage2a/train.log").exists() and (stage2_run / "results/llm/llm_info.json").exists()
    assert planned_jobs(stage2_run, "results/stage2b/final.ckpt", "--configfile", "tiny.yaml") == {}


def test_stage3_fine_tunes_2b_on_the_cleanest_clips_at_a_tenth_of_its_lr(stage2_run):
    import pyarrow.parquet as pq

    sub = json.loads((stage2_run / "results/stage3/subset.json").read_text())
    chosen = pq.read_table(stage2_run / "results/stage3/train.parquet")
    train = pq.read_table(stage2_run / "results/splits/train.parquet", columns=["segment_id", "language"])
    assert set(sub["languages"]) == set(train.column("language").to_pylist())
    for lang, v in sub["languages"].items():
        assert v["quota"] == -(-v["train_clips"] // 2)  # ceil(0.5 x clips)
        assert sum(1 for x in chosen.column("language").to_pylist() if x == lang) == v["quota"] <= v["pool"]
        assert v["chosen_mean_cer"] <= v["pool_mean_cer"]
    assert set(chosen.column("segment_id").to_pylist()) <= set(train.column("segment_id").to_pylist())
    assert {"stage1_cer", "rate_deviation"} <= set(chosen.column_names)
    s3 = json.loads((stage2_run / "results/stage3/train_summary.json").read_text())
    b = json.loads((stage2_run / "results/stage2b/train_summary.json").read_text())
    assert s3["stage"] == "stage3" and s3["steps"] == 2 and s3["init"].endswith("results/stage2b/final.ckpt")
    assert s3["train_clips"] == chosen.num_rows
    assert (
        s3["optim"]["llm_lr"] == 0.1 * b["optim"]["llm_lr"]
        and s3["optim"]["projection_lr"] == 0.1 * b["optim"]["projection_lr"]
    )


def test_final_checkpoint_reloads_with_one_call_and_decodes(stage2_run):
    import os

    from maya.stage2.model import MayaSALM

    cwd = os.getcwd()
    os.chdir(stage2_run)  # the checkpoint names the tokenizer directory relative to the workflow
    try:
        model = MayaSALM.load_from_checkpoint("results/stage2b/final.ckpt", map_location="cpu", weights_only=False)
    finally:
        os.chdir(cwd)
    assert model.cfg.stage == "stage2b" and not model.cfg.pretrained_weights
    saved = torch.load(stage2_run / "results/stage2b/final.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    mine = model.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in saved.items())
    model.eval()
    batch = {"audio": torch.randn(1, 16000) * 0.1, "audio_lens": torch.tensor([16000]), "lang_ids": torch.tensor([0])}
    texts, over = model.transcribe_batch(batch, tokens_per_second=4.0, min_tokens=2)
    assert len(texts) == 1 and isinstance(over[0], bool)


DEEPSPEED_RUN = """
import json, sys
import yaml
from maya.config import deep_update, validate_config
from maya.stage2.train import train
from tests.deepspeed_cpu import CPUDeepSpeedStrategy

cfg = yaml.safe_load(open("config.yaml"))
for extra in sys.argv[3:]:
    cfg = deep_update(cfg, json.loads(extra))
cfg = validate_config(cfg)
s2 = cfg["stage2"]
# argv[2] ranks, so ZeRO-2 really partitions gradients and optimizer state; Lightning starts
# every rank after the first by running this file again.
s2["trainer"].update(strategy="deepspeed", devices=int(sys.argv[2]))
settings = {"stage2": s2, "stage3": cfg["stage3"], "languages": cfg["languages"],
            "data": {"sample_rate": cfg["data"]["sample_rate"], "bucket_edges_s": cfg["data"]["bucket_edges_s"]}}
summary = train(settings, "stage2b", "results/stage2a/final.ckpt", "results/llm", "results/tokenizer/gemma",
                "results/splits", "results/stage2/train_clips.arrow", "results/balance/weights.json", sys.argv[1],
                progress=False, strategy=CPUDeepSpeedStrategy(config=s2["deepspeed"]))
if summary:  # rank 0 alone writes and reports
    print("SUMMARY " + json.dumps(summary))
"""
RANKS = 2  # what ZeRO-2 needs to shard anything; each extra CPU rank costs ~30 s here


def test_stage_2b_runs_lightning_deepspeed_zero2(stage2_run, tmp_path):
    """The production 2b path (Lightning's DeepSpeedStrategy with the build guide's ZeRO-2 JSON, our
    loop, our sampler) on two CPU ranks over gloo; the two ranks' ZeRO shards consolidate into a
    final.ckpt that reloads."""
    import os
    import subprocess
    import sys

    from tests.helpers import REPO

    env = {**os.environ, "PYTHONPATH": f"{stage2_run}:{REPO}"}
    out = tmp_path / "ds"
    script = tmp_path / "deepspeed_run.py"  # a file: Lightning starts rank 1 by running it again
    script.write_text(DEEPSPEED_RUN)
    proc = subprocess.run(
        [sys.executable, str(script), str(out), str(RANKS), json.dumps(TINY_CONFIG), json.dumps(STAGE2)],
        cwd=stage2_run,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    reports = [line for line in proc.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert len(reports) == 1, proc.stdout[-3000:]
    summary = json.loads(reports[0].split(" ", 1)[1])
    assert summary["strategy"] == "CPUDeepSpeedStrategy" and summary["steps"] == 2 and summary["devices"] == RANKS
    assert summary["sampler"]["batches_per_rank"] >= 2
    assert f"world_size: {RANKS}" in proc.stdout + proc.stderr  # DeepSpeed consolidating both ranks' shards
    assert summary["deepspeed"]["zero_stage"] == 2
    assert summary["deepspeed"]["optimizer"] == "DeepSpeedZeroOptimizer"  # ZeRO-2 wrapping our torch AdamW
    assert summary["trainable"]["llm"] > 0
    assert not (out / "final.ckpt.zero").exists()  # the ZeRO shards were consolidated into one file
    ckpt = torch.load(out / "final.ckpt", map_location="cpu", weights_only=False)
    from maya.stage2.model import MayaSALM

    cwd = os.getcwd()
    os.chdir(stage2_run)
    try:
        model = MayaSALM.load_from_checkpoint(str(out / "final.ckpt"), map_location="cpu", weights_only=False)
    finally:
        os.chdir(cwd)
    mine = model.state_dict()
    assert set(mine) == set(ckpt["state_dict"]) and all(torch.equal(mine[k], v) for k, v in ckpt["state_dict"].items())


def test_report_shows_every_stage_per_language_with_over_length_counts(stage2_run):
    import csv

    write_config(
        stage2_run / "stages.yaml",
        {"eval": {**TINY_CONFIG["eval"], "stages": ["stage1", "stage2a", "stage2b", "stage3"]}},
    )
    snakemake(stage2_run, "reports/eval.html", "--cores", "2", "--configfile", "tiny.yaml", "stages.yaml")
    rows = list(csv.DictReader((stage2_run / "results/eval/summary.csv").read_text().splitlines()))
    series = {(r["stage"], r["decoder"]) for r in rows}
    assert series == {
        ("stage1", "tdt_greedy"),
        ("stage1", "ctc_greedy"),
        ("stage2a", "llm_greedy"),
        ("stage2b", "llm_greedy"),
        ("stage3", "llm_greedy"),
    }
    tested = {r["language"] for r in rows if r["stage"] == "stage1"}  # languages with test clips
    for stage in ("stage2a", "stage2b", "stage3"):
        sel = [r for r in rows if r["stage"] == stage]
        assert {r["language"] for r in sel} == tested
        assert all(r["over_length"] != "" and 0 <= int(r["over_length"]) <= int(r["utterances"]) for r in sel)
        hyps_path = stage2_run / f"results/eval/{stage}/heldout/llm_greedy/hyps.jsonl"
        hyps = [json.loads(line) for line in hyps_path.read_text(encoding="utf-8").splitlines()]
        assert hyps and all(isinstance(h["over_length"], bool) for h in hyps)
    assert all(r["over_length"] == "" for r in rows if r["stage"] == "stage1")
    page = (stage2_run / "reports/eval.html").read_text(encoding="utf-8")
    assert "stage3" in page and "over-length" in page
    assert "Stage 2a, 2b and 3 rows: the Stage-1 encoder, a projection and" in page  # what the LLM rows are


# The two tests below change the Stage-3 settings of the module's run: they stay last in the module.
def test_stage3_resumes_after_a_kill(stage2_run):
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


def test_readiness_gate_fails_fast_without_gpus(stage2_run):
    write_config(stage2_run / "gpu.yaml", {"stage2": {"trainer": {"accelerator": "gpu", "devices": 8}}})
    before = (stage2_run / "results/stage2a/final.ckpt").stat().st_mtime
    proc = snakemake(
        stage2_run, "results/stage2a/final.ckpt", "--cores", "2", "--configfile", "tiny.yaml", "gpu.yaml", check=False
    )
    assert proc.returncode != 0
    log = (stage2_run / "logs/stage2a/readiness.log").read_text()
    assert "Stage-2a readiness failed" in log and "GPUs: the trainer wants 8, 0 visible" in log
    assert (stage2_run / "results/stage2a/final.ckpt").stat().st_mtime == before
