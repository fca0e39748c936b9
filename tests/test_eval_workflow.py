"""Evaluation inside the workflow: real decoding of the tiny run's test split, an external test set
through an adapter, and the outputs' consistency."""

import csv
import json

import pytest

from tests.helpers import SHARED_DATA, TINY_CONFIG, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow
TINY = ("--configfile", "tiny.yaml")
LJ = SHARED_DATA / "real_speech" / "ljspeech_mini"


def test_heldout_decoding_and_scores_are_consistent(tiny_run):
    rows = list(csv.DictReader((tiny_run / "results/eval/summary.csv").open()))
    assert {(r["stage"], r["testset"], r["decoder"]) for r in rows} == {
        ("stage1", "heldout", "tdt_greedy"),
        ("stage1", "heldout", "ctc_greedy"),
    }
    langs = {r["language"] for r in rows}
    assert langs <= set(TINY_CONFIG["languages"]) and langs
    for decoder in ("tdt_greedy", "ctc_greedy"):
        d = tiny_run / "results/eval/stage1/heldout" / decoder
        hyps = [json.loads(line) for line in (d / "hyps.jsonl").read_text(encoding="utf-8").splitlines()]
        test_rows = (
            __import__("pyarrow.parquet", fromlist=["x"])
            .read_metadata(tiny_run / "results/splits/test.parquet")
            .num_rows
        )
        assert len(hyps) == test_rows and all({"ref", "hyp", "lang", "seconds"} <= set(h) for h in hyps)
        rtfx = json.loads((d / "rtfx.json").read_text())
        assert rtfx["utterances"] == test_rows and rtfx["rtfx"] > 0 and rtfx["device"] == "cpu"
        scores = json.loads((d / "scores.json").read_text())
        for r in rows:
            if r["decoder"] == decoder:
                s = scores["languages"][r["language"]]
                assert float(r["wer"]) == pytest.approx(s["wer"], abs=1e-6)
                assert float(r["wer_ci_low"]) <= float(r["wer"]) <= float(r["wer_ci_high"])
                assert int(r["utterances"]) == sum(h["lang"] == r["language"] for h in hyps)


def test_nemo_scoring_of_our_hypotheses_agrees_with_scores_json(tiny_run):
    """What NeMo's speech_to_text_eval.py computes (word_error_rate over the transcripts, CER with
    use_cer) on the workflow's own hyps.jsonl, per language, against scores.json."""
    from nemo.collections.asr.metrics.wer import word_error_rate

    from maya.scoring import normalise_for_scoring

    for decoder in TINY_CONFIG["eval"]["decoders"]:
        d = tiny_run / "results/eval/stage1/heldout" / decoder
        hyps = [json.loads(line) for line in (d / "hyps.jsonl").read_text(encoding="utf-8").splitlines()]
        scores = json.loads((d / "scores.json").read_text())
        for lang, s in scores["languages"].items():
            sel = [h for h in hyps if h["lang"] == lang]
            refs = [normalise_for_scoring(h["ref"], lang) for h in sel]
            out = [normalise_for_scoring(h["hyp"], lang) for h in sel]
            assert word_error_rate(out, refs) == pytest.approx(s["wer"], abs=1e-9)
            # Our CER does not count spaces (word boundaries are WER's business); NeMo's does, so it
            # gets the texts without them.
            squash = lambda texts: ["".join(t.split()) for t in texts]  # noqa: E731
            assert word_error_rate(squash(out), squash(refs), use_cer=True) == pytest.approx(s["cer"], abs=1e-9)


@pytest.mark.skipif(not LJ.exists(), reason="../shared/data/real_speech/ljspeech_mini is not present")
def test_external_test_set_through_the_ljspeech_adapter(tiny_copy):
    corpora = [
        {"name": "demo", "format": "final_export", "root": "results/corpus/demo", "synthesise": "demo"},
        {
            "name": "broken",
            "format": "final_export",
            "root": "results/corpus/broken",
            "synthesise": "broken",
            "languages": ["hi"],
            "max_failed_shard_fraction": 0.5,
            "max_quarantined_clip_fraction": 0.5,
        },
        {"name": "ljs", "format": "ljspeech", "root": str(LJ), "languages": ["en"], "use": "eval"},
    ]
    write_config(tiny_copy / "tiny.yaml", {**TINY_CONFIG, "corpora": corpora})
    plan = planned_jobs(tiny_copy, *TINY)
    assert plan == {
        "list_shards": 1,
        "index_shard": 1,
        "qc_summary": 1,
        "build_manifest": 1,
        "eval_testset": 1,
        "decode_testset": 2,
        "score_testset": 2,
        "eval_summary": 1,
        "eval_report": 1,
        "all": 1,
    }
    snakemake(tiny_copy, "--cores", "2", *TINY)
    rows = list(csv.DictReader((tiny_copy / "results/eval/summary.csv").read_text().splitlines()))
    ljs = [r for r in rows if r["testset"] == "ljs"]
    assert {r["language"] for r in ljs} == {"en"} and {r["decoder"] for r in ljs} == {"tdt_greedy", "ctc_greedy"}
    assert int(ljs[0]["utterances"]) == 32
    assert "<code>ljs</code>" in (tiny_copy / "reports/eval.html").read_text(encoding="utf-8")
