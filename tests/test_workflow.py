"""Snakemake end to end on a tiny corpus (3 demo languages + the broken-shard corpus).

Rerun rules: after a full run nothing is to be done; changing one shard reruns that shard's chain
and the aggregates that read it; a setting reruns only the rules that use it; a change in maya/
code reruns only the rules whose entry points import it.
"""

import json
import os
import re
import shutil
import time
from collections import Counter

import pyarrow.parquet as pq
import pytest

from maya.corpus.broken import EXPECTED, KINDS, ODD_NAME
from tests.helpers import TINY_CONFIG, copy_repo, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow
TINY = ("--configfile", "tiny.yaml")
N_INDEX = len(TINY_CONFIG["languages"]) + len(KINDS)  # 1 demo shard per language + broken shards
N_MANIFEST = len(TINY_CONFIG["languages"]) + 1  # demo languages + broken/hi
# Everything that reads the splits: a changed clip anywhere upstream reruns these once.
FROM_SPLITS = {
    "make_splits": 1,
    "balance_languages": 1,
    "lhotse_inputs": 1,
    "train_tokenizer": 1,
    "batching_artifacts": 1,
    "fertility_report": 1,
    "train_stage1": 1,
    "export_stage1": 1,
    "decode_testset": 2,
    "score_testset": 2,
    "eval_summary": 1,
    "eval_report": 1,
}
QC = "results/qc/summary.json"  # run this far (not through training) where the rest is only planned
# Everything downstream of a retrained model (held-out test set x 2 decoders).
FROM_MODEL = {
    "train_stage1": 1,
    "export_stage1": 1,
    "decode_testset": 2,
    "score_testset": 2,
    "eval_summary": 1,
    "eval_report": 1,
}


def ran(repo, *args):
    """Run Snakemake; rule -> number of jobs that actually ran."""
    out = snakemake(repo, "--cores", "2", *args, *TINY)  # targets before --configfile (it takes several)
    return dict(Counter(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", out.stdout + out.stderr)))


def test_full_run_outputs_reconcile(tiny_run):
    assert (tiny_run / "results/shards/demo.tsv").read_text().splitlines() == [
        "lang\tshard_id",
        "en\tshard_00000",
        "hi\tshard_00000",
        "ta\tshard_00000",
    ]
    summary = json.loads((tiny_run / "results/qc/summary.json").read_text())
    t = summary["total"]
    assert t["clips_in"] == t["clips_kept"] + sum(t["quarantined_by_reason"].values())
    demo = summary["corpora"]["demo"]["total"]
    n_clips = len(TINY_CONFIG["languages"]) * TINY_CONFIG["demo_corpus"]["clips_per_shard"]
    assert demo["shards_ok"] == 3 and demo["clips_kept"] == demo["clips_in"] == n_clips
    broken = summary["corpora"]["broken"]["total"]
    expected = Counter()
    for _, by_reason, extra in EXPECTED.values():
        expected.update(by_reason)
        if "duplicates_of" in extra:  # the copy's clips: kept per shard, quarantined across shards
            expected["duplicate_across_shards"] += 6
    assert broken["quarantined_by_reason"] == dict(sorted(expected.items()))
    assert broken["shards_failed"] == sum(s == "failed" for s, _, _ in EXPECTED.values())
    assert summary["violations"] == []
    # Manifests hold exactly the kept clips, in both formats.
    for corpus, lang in [("demo", "en"), ("demo", "hi"), ("demo", "ta"), ("broken", "hi")]:
        kept = summary["corpora"][corpus]["languages"][lang]["clips_kept"]
        assert pq.read_metadata(tiny_run / f"results/manifests/{corpus}/{lang}.parquet").num_rows == kept
        lines = (tiny_run / f"results/manifests/{corpus}/{lang}.jsonl").read_text().splitlines()
        assert len(lines) == kept
        entry = json.loads(lines[0])
        assert {
            "audio_filepath",
            "duration",
            "text",
            "lang",
            "taskname",
            "source_lang",
            "target_lang",
            "tar_path",
            "tar_offset",
            "tar_nbytes",
            "shard_id",
        } <= set(entry)
    # Every job left a Snakemake benchmark record, and the report says where the time went.
    bench = tiny_run / "results/benchmarks"
    assert len(list((bench / "index_shard").rglob("*.tsv"))) == N_INDEX
    assert (bench / "train_stage1.tsv").read_text().startswith("s\th:m:s\tmax_rss")
    page = (tiny_run / "reports/eval.html").read_text(encoding="utf-8")
    assert "Where the time went" in page and '<td class="l">train_stage1</td>' in page
    # The shard with an awkward directory name went through like any other.
    assert json.loads((tiny_run / f"results/qc/broken/hi/{ODD_NAME}.json").read_text())["clips_kept"] == 6
    assert (tiny_run / "logs/index_shard/broken/hi/garbage_tar.log").read_text().count("unreadable_tar")


def test_nothing_to_do_after_a_full_run(tiny_copy):
    assert planned_jobs(tiny_copy, *TINY) == {}


def test_changed_shard_reruns_only_its_chain(tiny_copy):
    manifest = tiny_copy / "results/corpus/demo/lang=hi/shard_00000/manifest.json"
    # A touch alone is not a change: Snakemake 9 checksums small files before trusting mtimes.
    later = time.time() + 5
    os.utime(manifest, (later, later))
    assert planned_jobs(tiny_copy, *TINY) == {}
    manifest.write_text(manifest.read_text() + "\n")
    assert planned_jobs(tiny_copy, *TINY) == {
        "index_shard": 1,
        "qc_summary": 1,
        "build_manifest": 1,
        **FROM_SPLITS,
        "all": 1,
    }
    # Run the shard's own chain: it finds the same clips (the edit was a blank line), so its
    # outputs are byte-identical and nothing downstream is left to rerun.
    assert ran(tiny_copy, QC) == {"index_shard": 1, "qc_summary": 1}
    assert planned_jobs(tiny_copy, *TINY) == {}


def test_adding_shards_leaves_existing_ones_alone(tiny_copy):
    old = tiny_copy / "results/index/demo/hi/shard_00000.parquet"
    before = old.stat().st_mtime_ns
    cfg = {**TINY_CONFIG, "demo_corpus": {**TINY_CONFIG["demo_corpus"], "shards_per_language": 2}}
    write_config(tiny_copy / "tiny.yaml", cfg)
    n = len(TINY_CONFIG["languages"])
    assert planned_jobs(tiny_copy, *TINY) == {
        "synthesise_demo_shard": n,
        "list_shards": 1,
        "index_shard": n,
        "qc_summary": 1,
        "build_manifest": n,
        **FROM_SPLITS,
        "all": 1,
    }
    assert ran(tiny_copy, QC) == {"synthesise_demo_shard": n, "list_shards": 1, "index_shard": n, "qc_summary": 1}
    assert old.stat().st_mtime_ns == before
    assert planned_jobs(tiny_copy, *TINY) == {"build_manifest": n, **FROM_SPLITS, "all": 1}


def test_settings_rerun_only_the_rules_that_use_them(tiny_copy):
    def plan(overrides):
        write_config(tiny_copy / "tiny.yaml", {**TINY_CONFIG, **overrides})
        return planned_jobs(tiny_copy, *TINY)

    assert plan({"qc": {"duration_tolerance_s": 0.2}}) == {
        "index_shard": N_INDEX,
        "qc_summary": 1,
        "build_manifest": N_MANIFEST,
        **FROM_SPLITS,
        "all": 1,
    }
    # The QC summary feeds the report (and the config hash in its provenance changes).
    assert plan({"qc": {"max_failed_shard_fraction": 0.2}}) == {"qc_summary": 1, "eval_report": 1, "all": 1}
    assert plan({"demo_corpus": {**TINY_CONFIG["demo_corpus"], "seed": 99}}) == {
        "synthesise_demo_shard": 3,
        "index_shard": 3,
        "qc_summary": 1,
        "build_manifest": 3,
        **FROM_SPLITS,
        "all": 1,
    }
    assert plan({"splits": {"val_fraction": 0.2}}) == {**FROM_SPLITS, "all": 1}
    assert plan({"tokenizer": {"vocab_size": 900}}) == {
        "train_tokenizer": 1,
        "batching_artifacts": 1,
        "fertility_report": 1,
        **FROM_MODEL,
        "all": 1,
    }
    assert plan({"batching": {"num_buckets": 3}}) == {"batching_artifacts": 1, **FROM_MODEL, "all": 1}
    # A training setting retrains and touches nothing in the data stages.
    assert plan({"stage1": {**TINY_CONFIG["stage1"], "optim": {"head_lr": 0.5}}}) == {**FROM_MODEL, "all": 1}
    # Operating settings (bucket, trackers) never rerun training (rules/common_training.smk: OPS);
    # the report's provenance records the config.
    assert plan({"storage": {"keep_local": 1}, "tracking": {"loggers": ["mlflow"]}}) == {"eval_report": 1, "all": 1}
    # Evaluation never retrains: a scoring setting rescores without decoding, a report setting
    # rebuilds only the report, a decoding setting re-decodes.
    assert plan({"eval": {**TINY_CONFIG["eval"], "bootstrap_samples": 3}}) == {
        "score_testset": 2,
        "eval_summary": 1,
        "eval_report": 1,
        "all": 1,
    }
    assert plan({"eval": {**TINY_CONFIG["eval"], "report_title": "Another title"}}) == {"eval_report": 1, "all": 1}
    assert plan({"eval": {**TINY_CONFIG["eval"], "batch_size": 3}}) == {
        "decode_testset": 2,
        "score_testset": 2,
        "eval_summary": 1,
        "eval_report": 1,
        "all": 1,
    }


def test_library_code_change_reruns_the_rules_that_import_it(tiny_copy):
    with open(tiny_copy / "maya/manifests.py", "a") as f:
        f.write("\n# a change in manifest building\n")
    assert planned_jobs(tiny_copy, *TINY) == {"build_manifest": N_MANIFEST, **FROM_SPLITS, "all": 1}
    with open(tiny_copy / "maya/qc.py", "a") as f:
        f.write("\n# a change in QC\n")
    assert planned_jobs(tiny_copy, *TINY) == {
        "index_shard": N_INDEX,
        "qc_summary": 1,
        "build_manifest": N_MANIFEST,
        **FROM_SPLITS,
        "all": 1,
    }


def test_tokenizer_code_change_leaves_data_stages_alone(tiny_copy):
    with open(tiny_copy / "maya/tokenizers.py", "a") as f:
        f.write("\n# a change in tokenizer code\n")
    assert planned_jobs(tiny_copy, *TINY) == {
        "gemma_tokenizer": 1,
        "train_tokenizer": 1,
        "batching_artifacts": 1,
        "fertility_report": 1,
        **FROM_MODEL,
        "all": 1,
    }


def test_exceeding_qc_limits_stops_with_a_clear_error(tiny_copy):
    cfg = {
        **TINY_CONFIG,
        "corpora": [
            {"name": "demo", "format": "final_export", "root": "results/corpus/demo", "synthesise": "demo"},
            {
                "name": "broken",
                "format": "final_export",
                "root": "results/corpus/broken",
                "synthesise": "broken",
                "languages": ["hi"],
                "max_failed_shard_fraction": 0.1,
            },
        ],
    }
    write_config(tiny_copy / "tiny.yaml", cfg)
    proc = snakemake(tiny_copy, "--cores", "2", *TINY, check=False)
    assert proc.returncode != 0
    log = (tiny_copy / "logs/qc_summary.log").read_text()
    assert f"corpus 'broken': 4 of {len(KINDS)} shards failed (limit 10%)" in log
    assert not (tiny_copy / "results/qc/summary.json").exists()


# `snakemake --profile h200 -n` and `--profile slurm` on a fresh clone (the production corpus absent:
# shard discovery planned, not failed) are dry runs of tests/test_docs.py; `snakemake --lint` is
# part of `make lint`, which CI runs before the tests.


def test_rulegraph_and_dag_render(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    assert "digraph" in snakemake(repo, "--rulegraph").stdout
    assert "digraph" in snakemake(repo, "--dag").stdout


def test_on_disk_corpus_reruns_a_shard_whose_companion_file_changed(tiny_run, tmp_path):
    """A final_export corpus outside results/: only audio.tar is a declared input; an edit to
    metadata.parquet (or manifest.json) reruns that shard through the stat stamp."""
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_run / "results/corpus/demo", corpus)
    repo = copy_repo(tmp_path / "repo")
    cfg = {
        "languages": ["en", "hi", "ta"],
        "stage1": TINY_CONFIG["stage1"],
        "eval": TINY_CONFIG["eval"],
        "corpora": [{"name": "ext", "format": "final_export", "root": str(corpus)}],
    }
    write_config(repo / "tiny.yaml", cfg)
    snakemake(repo, "--cores", "2", QC, *TINY)  # indexing and QC are what a companion file touches
    assert planned_jobs(repo, QC, *TINY) == {}
    meta = corpus / "lang=ta/shard_00000/metadata.parquet"
    table = pq.read_table(meta)
    pq.write_table(table.slice(1), meta)  # one row fewer: that clip becomes an orphan member
    assert planned_jobs(repo, QC, *TINY) == {"index_shard": 1, "qc_summary": 1}
    ran(repo, QC)
    report = json.loads((repo / "results/qc/ext/ta/shard_00000.json").read_text())
    assert report["quarantined_by_reason"] == {"orphan_member": 1}
    assert planned_jobs(repo, QC, *TINY) == {}
    # A new shard directory appearing on disk is picked up by the listing.
    shutil.copytree(corpus / "lang=ta/shard_00000", corpus / "lang=ta/shard_00007")
    assert planned_jobs(repo, QC, *TINY) == {"list_shards": 1, "index_shard": 1, "qc_summary": 1}


def test_training_inputs_from_the_tiny_run(tiny_run):
    report = json.loads((tiny_run / "results/splits/report.json").read_text())
    splits = {s: pq.read_table(tiny_run / f"results/splits/{s}.parquet").to_pylist() for s in ("train", "val", "test")}
    for lang in TINY_CONFIG["languages"]:
        text = {s: {r["text_norm"] for r in splits[s] if r["language"] == lang} for s in splits}
        assert text["train"] and not (text["train"] & text["test"])  # text-disjoint demo
        warnings = report["languages"][lang]["warnings"]
        assert any("split by clip" in w for w in warnings)
        assert bool(text["test"]) != any("test split is empty" in w for w in warnings)
    assert splits["test"]
    weights = json.loads((tiny_run / "results/balance/weights.json").read_text())
    assert sum(e["weight"] for e in weights["entries"]) == pytest.approx(1.0)
    gemma = json.loads((tiny_run / "results/tokenizer/gemma/maya_tokens.json").read_text())
    assert gemma["base_vocab"] == 262144 and gemma["added"] == 1 + len(TINY_CONFIG["languages"])
    fert = json.loads((tiny_run / "results/tokenizer/fertility.json").read_text())
    rows = {r["language"]: r for r in fert["rows"]}
    assert rows["hi"]["gemma_published_tokens_per_word"] == 1.38
    assert all(r["bpe_tokens_per_word"] > 1 and r["gemma_tokens_per_word"] > 0.9 for r in rows.values())
    bins = json.loads((tiny_run / "results/batching/bins.json").read_text())
    assert bins["clips"] == len(splits["train"]) and bins["bucket_edges_s"] == [0, 4, 8, 12, 16, 20]


def test_gemma_tokenizer_has_single_id_task_and_language_tokens(tiny_run):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_run / "results/tokenizer/gemma"))
    ids = tok.encode("<|hi|><|transcribe|>नमस्ते दुनिया", add_special_tokens=False)  # hi is in the tiny config
    assert tok.convert_ids_to_tokens(ids[:2]) == ["<|hi|>", "<|transcribe|>"]
    assert tok.decode(ids[2:]) == "नमस्ते दुनिया"


def test_nemo_lhotse_dataloader_streams_train_members_from_the_original_tars(tiny_run, tmp_path):
    """NeMo's own dataloader reads input_cfg.yaml; tar members that are not train clips (val,
    test, quarantined) are in the same tars and must be read past, never yielded."""
    import torch
    from nemo.collections.common.data.lhotse.dataloader import get_lhotse_dataloader_from_config

    class Cuts(torch.utils.data.Dataset):
        def __getitem__(self, cuts):
            return [(c.supervisions[0].language, c.supervisions[0].text, c.load_audio().shape[1]) for c in cuts]

    train = pq.read_table(tiny_run / "results/splits/train.parquet").to_pylist()
    train_text = {(r["language"], r["text_norm"]) for r in train}
    from maya.audio.tar_walk import walk_tar

    train_ids = {r["segment_id"] for r in train}
    # Manifest paths are relative to the workflow's working directory (the tiny run's repo).
    not_train = sum(
        1
        for path in {r["audio_path"] for r in train}
        for m in walk_tar(tiny_run / path).members
        if m.name.rsplit(".", 1)[0] not in train_ids
    )
    assert not_train > 0  # the skip path is really exercised
    cwd = os.getcwd()
    os.chdir(tmp_path)  # not the workflow's directory: every path in input_cfg.yaml is absolute
    try:
        dl = get_lhotse_dataloader_from_config(
            {
                "input_cfg": str(tiny_run / "results/lhotse/input_cfg.yaml"),
                "use_lhotse": True,
                "batch_size": 8,
                "shard_seed": 0,
                "seed": 0,
                "num_workers": 0,
                "shuffle": True,
            },
            global_rank=0,
            world_size=1,
            dataset=Cuts(),
        )
        seen = [item for _, batch in zip(range(6), dl, strict=False) for item in batch]
    finally:
        os.chdir(cwd)
    assert len(seen) == 48
    assert all((lang, text) in train_text for lang, text, _ in seen)
    assert all(n > 8000 for _, _, n in seen)  # decoded audio, at least half a second
    assert len({lang for lang, _, _ in seen}) >= 2


def test_two_clean_runs_are_byte_identical(tiny_run, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    write_config(repo / "tiny.yaml", TINY_CONFIG)
    compared = [
        "results/corpus/demo/lang=hi/shard_00000/audio.tar",
        "results/qc/summary.json",
        "results/splits/train.parquet",
        "results/splits/val.parquet",
        "results/splits/test.parquet",
        "results/splits/report.json",
        "results/tokenizer/bpe1024/tokenizer.model",
        "results/tokenizer/bpe1024/vocab.txt",
        "results/balance/weights.json",
        "results/batching/bins.json",
        "results/lhotse/input_cfg.yaml",
    ]
    targets = [f.replace("/input_cfg.yaml", "") for f in compared]  # the Lhotse rule's output is its folder
    snakemake(repo, "--cores", "2", *targets, *TINY)  # the data artifacts, not training
    for f in compared:
        # input_cfg.yaml names its manifests by absolute path (NeMo may run from anywhere).
        assert (repo / f).read_bytes().replace(bytes(repo), b"REPO") == (tiny_run / f).read_bytes().replace(
            bytes(tiny_run), b"REPO"
        ), f
