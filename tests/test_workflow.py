"""Snakemake end to end on a tiny demo corpus: outputs, reruns, profiles, lint.

Rerun rules: after a full run nothing is to be done; changing one shard reruns that shard's chain
and the aggregates that read it; a setting reruns only the rules that use it; a change in maya/
code reruns only the rules whose entry points import it.
"""

import os
import time

import pytest

from tests.helpers import TINY_CONFIG, copy_repo, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow
TINY = ("--configfile", "tiny.yaml")


def test_full_run_writes_every_shard_and_listing(tiny_run):
    listing = (tiny_run / "results/shards/demo.tsv").read_text().splitlines()
    assert listing == ["lang\tshard_id", "en\tshard_00000", "hi\tshard_00000", "ta\tshard_00000"]
    for lang in TINY_CONFIG["languages"]:
        shard = tiny_run / f"results/corpus/demo/lang={lang}/shard_00000"
        assert (shard / "audio.tar").stat().st_size > 0
        assert (tiny_run / f"logs/synthesise_demo_shard/demo/{lang}/shard_00000.log").exists()


def test_nothing_to_do_after_a_full_run(tiny_copy):
    assert planned_jobs(tiny_copy, *TINY) == {}


def test_changed_shard_reruns_only_what_reads_it(tiny_copy):
    manifest = tiny_copy / "results/corpus/demo/lang=hi/shard_00000/manifest.json"
    # A touch alone is not a change: Snakemake 9 checksums small files before trusting mtimes.
    later = time.time() + 5
    os.utime(manifest, (later, later))
    assert planned_jobs(tiny_copy, *TINY) == {}
    manifest.write_text(manifest.read_text() + "\n")
    assert planned_jobs(tiny_copy, *TINY) == {"list_shards": 1, "all": 1}


def test_adding_shards_does_not_rerun_existing_ones(tiny_copy):
    cfg = {**TINY_CONFIG, "demo_corpus": {**TINY_CONFIG["demo_corpus"], "shards_per_language": 2}}
    write_config(tiny_copy / "tiny.yaml", cfg)
    assert planned_jobs(tiny_copy, *TINY) == {"synthesise_demo_shard": 3, "list_shards": 1, "all": 1}


def test_setting_reruns_only_rules_that_use_it(tiny_copy):
    cfg = {**TINY_CONFIG, "demo_corpus": {**TINY_CONFIG["demo_corpus"], "seed": 99}}
    write_config(tiny_copy / "tiny.yaml", cfg)
    assert planned_jobs(tiny_copy, *TINY) == {"synthesise_demo_shard": 3, "list_shards": 1, "all": 1}
    # Training and evaluation settings touch nothing in the data stages.
    cfg = {**TINY_CONFIG, "stage1": {"optim": {"head_lr": 0.5}}, "eval": {"bootstrap_samples": 3}}
    write_config(tiny_copy / "tiny.yaml", cfg)
    assert planned_jobs(tiny_copy, *TINY) == {}


def test_library_code_change_reruns_the_rules_that_import_it(tiny_copy):
    with open(tiny_copy / "maya/corpus/listing.py", "a") as f:
        f.write("\n# a change in shard discovery\n")
    assert planned_jobs(tiny_copy, *TINY) == {"list_shards": 1, "all": 1}
    with open(tiny_copy / "maya/espeak.py", "a") as f:
        f.write("\n# a change in synthesis\n")
    assert planned_jobs(tiny_copy, *TINY) == {"synthesise_demo_shard": 3, "list_shards": 1, "all": 1}


@pytest.mark.parametrize("profile", ["h200", "slurm"])
def test_gpu_profiles_dry_run_on_a_fresh_clone(tmp_path, profile):
    repo = copy_repo(tmp_path / "repo")
    jobs = planned_jobs(repo, "--profile", profile)
    # The production corpus is not on this machine: shard discovery is planned, not failed.
    assert jobs.get("list_shards") == 1
    out = snakemake(repo, "-n", "--profile", profile)
    assert "final_export" in out.stdout


def test_lint_is_clean(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    out = snakemake(repo, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


def test_rulegraph_and_dag_render(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    assert "digraph" in snakemake(repo, "--rulegraph").stdout
    assert "digraph" in snakemake(repo, "--dag").stdout
