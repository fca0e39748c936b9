"""Stages 2 and 3 inside the workflow: 2a from the tiny run's Stage-1 model, 2b from 2a, 3 from 2b on
the cleanest clips, all through Snakemake on the tiny corpus (the session's ``stage2_run``, see
tests/conftest.py); what each trained, that final.ckpt reloads with one call, and the report with
every stage. ZeRO-2 and resuming after a kill have their own modules."""

import json

import pytest
import torch

from tests.helpers import TINY_CONFIG, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow


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


def test_report_shows_every_stage_per_language_with_over_length_counts(stage2_copy):
    stage2_run = stage2_copy
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
