"""The public benchmarks through the workflow: small copies of FLEURS (a .tar.gz of WAVs and an
extracted folder), Common Voice (MP3, reordered and extra TSV columns), Kathbath (M4A) and a Hugging
Face Parquet with embedded FLAC, configured as test sets next to the tiny run; `snakemake
reports/eval.html` decodes and scores each, both normalisations, with the published baseline where
there is one, and every bad row is excluded with its reason and counted."""

import csv
import json

import pytest

from tests import benchmark_layouts as layouts
from tests.helpers import TINY_CONFIG, snakemake, write_config

pytestmark = pytest.mark.workflow


def test_benchmarks_are_test_sets_scored_both_ways(tiny_copy, tmp_path):
    roots = {name: tmp_path / name for name in ("fleurs", "cv", "kathbath", "indicvoices")}
    bad = {
        "fleurs": layouts.fleurs(roots["fleurs"]),
        "cv": layouts.common_voice(roots["cv"]),
        "kathbath": layouts.kathbath(roots["kathbath"]),
        "indicvoices": layouts.hf_parquet(roots["indicvoices"]),
    }
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
        {"name": "fleurs", "format": "fleurs", "root": str(roots["fleurs"]), "use": "eval", "benchmark": "fleurs"},
        {"name": "cv", "format": "common_voice", "root": str(roots["cv"]), "use": "eval", "benchmark": "common_voice"},
        {
            "name": "kathbath",
            "format": "kathbath",
            "root": str(roots["kathbath"]),
            "use": "eval",
            "benchmark": "kathbath",
        },
        {
            "name": "indicvoices",
            "format": "hf_parquet",
            "root": str(roots["indicvoices"]),
            "use": "eval",
            "columns": {"language": "lang"},
            "max_failed_shard_fraction": 0.5,
            "max_quarantined_clip_fraction": 0.6,
        },
    ]
    cfg = {
        **TINY_CONFIG,
        "corpora": corpora,
        "eval": {**TINY_CONFIG["eval"], "decoders": ["ctc_greedy"]},
        "qc": {"max_quarantined_clip_fraction": 0.5, "max_failed_shard_fraction": 0.5},
    }
    write_config(tiny_copy / "tiny.yaml", cfg)
    snakemake(tiny_copy, "reports/eval.html", "--cores", "2", "--configfile", "tiny.yaml")

    # Each benchmark is its own test set; its bad rows are excluded, with the reason, and counted.
    summary = json.loads((tiny_copy / "results/qc/summary.json").read_text())
    for corpus, by_lang in bad.items():
        for lang, reasons in by_lang.items():
            got = summary["corpora"][corpus]["languages"][lang]["quarantined_by_reason"]
            assert got == reasons, (corpus, lang, got)
    rows = list(csv.DictReader((tiny_copy / "results/eval/summary.csv").read_text(encoding="utf-8").splitlines()))
    seen = {(r["testset"], r["language"]) for r in rows}
    assert {("fleurs", "hi"), ("fleurs", "ta"), ("cv", "hi"), ("kathbath", "hi"), ("indicvoices", "ta")} <= seen
    for r in rows:
        assert r["wer"] != "" and r["wer_vistaar"] != "" and r["cer_vistaar"] != ""
    counts = {(r["testset"], r["language"]): int(r["utterances"]) for r in rows}
    assert counts[("fleurs", "hi")] == counts[("fleurs", "ta")] == layouts.CLIPS
    assert counts[("cv", "hi")] == counts[("kathbath", "hi")] == layouts.CLIPS - 1
    assert counts[("indicvoices", "ta")] == layouts.CLIPS
    # Never trained on: no benchmark clip in the splits.
    import pyarrow.parquet as pq

    train = set(pq.read_table(tiny_copy / "results/splits/train.parquet", columns=["corpus"]).column(0).to_pylist())
    assert train <= {"demo", "broken"}

    page = (tiny_copy / "reports/eval.html").read_text(encoding="utf-8")
    for testset in ("fleurs", "cv", "kathbath", "indicvoices"):
        assert f'id="matrix-{testset}"' in page
    assert "IndicWhisper (published)" in page and "10.3" in page  # Kathbath hi
    assert "not published" in page  # indicvoices has no published baseline
