"""``--profile slurm`` on a real one-node SLURM cluster (tests/slurm/local_cluster.py).

The shipped profile, with only what this cluster needs changed (partition, no account, squeue for
job status: there is no accounting database), runs the tiny workflow's data preparation with
index_shard as SLURM array jobs and Stage 1 as one SLURM job whose two CPU ranks srun starts (the
8-GPU path with gloo instead of NCCL); then Stages 2a, 2b and 3 the same way, as ZeRO-2 ranks
offloading their checkpoints to a local S3 server. Skipped, with the reason, where the cluster
cannot run (not root, no packages).
"""

import json
import re
import subprocess
import sys

import pytest
import torch
import yaml

from maya.config import deep_update, validate_config
from tests.helpers import REPO, TINY_CONFIG, copy_repo, snakemake, write_config

pytestmark = pytest.mark.workflow
RANKS = 2
PREP_RULES = (
    "qc_summary",
    "build_manifest",
    "make_splits",
    "balance_languages",
    "train_tokenizer",
    "batching_artifacts",
)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    from tests.slurm.local_cluster import LocalSlurm, Unavailable

    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), gpus=8)
    try:
        cluster.start()
    except Unavailable as e:
        pytest.skip(f"no local SLURM cluster: {e}")
    yield cluster
    cluster.stop()


def local_profile(root, partition: str = "local"):
    """The shipped SLURM profile, adapted to the local cluster only where it must be."""
    prof = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    prof["default-resources"] = [
        r.replace("$MAYA_SLURM_PARTITION", partition)
        for r in prof["default-resources"]
        if not r.startswith("slurm_account")
    ]
    # Data preparation after indexing as one SLURM job (a Snakemake group job): each job otherwise
    # pays sbatch, the status polls and a Snakemake start-up. Only here: the shipped profile keeps
    # one job per rule, which is what 3,551 shards need.
    prof["groups"] = [f"{rule}=prep" for rule in PREP_RULES]
    prof.update(
        {
            "slurm-no-account": True,
            "slurm-status-command": "squeue",
            "configfile": ["config.yaml", "tiny.yaml"],
            "jobs": 20,
            "latency-wait": 5,
            "slurm-init-seconds-before-status-checks": 1,
            "seconds-between-status-checks": 2,
        }
    )
    (root / "local-slurm").mkdir()
    write_config(root / "local-slurm/config.yaml", prof)
    return root / "local-slurm"


def stage1_settings(cfg: dict) -> dict:
    """What train_stage1 receives (rules/common.smk: STAGE1_SETTINGS), for a direct run."""
    c = validate_config(deep_update(yaml.safe_load((REPO / "config.yaml").read_text()), cfg))
    return {
        "stage1": c["stage1"],
        "languages": c["languages"],
        "data": {"sample_rate": c["data"]["sample_rate"], "bucket_edges_s": c["data"]["bucket_edges_s"]},
    }


def val_rows(metrics_csv) -> list[tuple[int, float]]:
    """(step, validation loss) in logging order: Lightning's CSV, every validation run."""
    import csv

    with open(metrics_csv) as f:
        return [(int(float(r["step"])), float(r["val_loss"])) for r in csv.DictReader(f) if r.get("val_loss")]


def test_workflow_runs_on_slurm_with_stage1_under_srun(slurm, tmp_path):
    root = copy_repo(tmp_path / "repo")
    trainer = {
        **TINY_CONFIG["stage1"]["trainer"],
        "devices": RANKS,
        "accelerator": "cpu",
        "strategy": "ddp_find_unused_parameters_true",
    }
    # Two languages of the demo corpus, two shards each (no damaged corpus: test_hostile covers it):
    # few jobs, since every SLURM job starts its own Snakemake, and enough clips for two ranks.
    cfg = {
        **TINY_CONFIG,
        "languages": ["en", "hi"],
        "stage1": {"trainer": trainer},
        "demo_corpus": {**TINY_CONFIG["demo_corpus"], "clips_per_shard": 16, "shards_per_language": 2},
        "corpora": [{"name": "demo", "format": "final_export", "root": "results/corpus/demo", "synthesise": "demo"}],
    }
    write_config(root / "tiny.yaml", cfg)
    profile = str(local_profile(root))
    # The shards first, so all four index_shard jobs are ready at once and go out as one array.
    snakemake(root, "--profile", profile, "--until", "synthesise_demo_shard", timeout=900)
    out = snakemake(root, "--profile", profile, "results/qc/summary.json", "results/stage1/final.nemo", timeout=1500)
    log = out.stdout + out.stderr

    # Every job went through SLURM and finished there; index_shard went out as array jobs.
    assert re.search(r"Submitted array job with Snakemake IDs [\d,]+ and SLURM job ID \d+", log), log[-3000:]
    jobs = slurm.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%j"]).stdout.split()
    assert len(jobs) >= 8 and all(j.split("|")[1] == "COMPLETED" for j in jobs), jobs
    print(slurm.run(["sinfo", "-N", "-o", "%N %T %c %m %G"]).stdout)
    print(slurm.run(["squeue", "--states=all", "-o", "%.8i %.10T %.6D %.5C %.12b %.40j"]).stdout)
    summary = json.loads((root / "results/qc/summary.json").read_text())
    assert summary["total"]["clips_kept"] > 0 and summary["violations"] == []

    # Stage 1: one job, srun started both ranks, rank 0 alone wrote the model and summary.
    train_log = (root / "logs/stage1/train.log").read_text()
    for r in range(RANKS):
        assert f"GLOBAL_RANK: {r}, MEMBER: {r + 1}/{RANKS}" in train_log
    assert train_log.count("stage 1: ") == 1 and train_log.count("maya: train_stage1: ") == RANKS
    ddp = json.loads((root / "results/stage1/train_summary.json").read_text())
    assert ddp["devices"] == RANKS and ddp["num_nodes"] == 1 and ddp["steps"] == trainer["max_steps"]
    assert ddp["sampler"]["batches_per_rank"] >= 1
    assert (root / "results/stage1/final.nemo").stat().st_size > 100_000

    # The same global batch in one process (2 micro-batches accumulated) reaches the same losses.
    vocab = validate_config(deep_update(yaml.safe_load((REPO / "config.yaml").read_text()), cfg))["tokenizer"][
        "vocab_size"
    ]
    single = stage1_settings(
        {**cfg, "stage1": {"trainer": {**trainer, "devices": 1, "strategy": "auto", "accumulate_grad_batches": RANKS}}}
    )
    proc = subprocess.run(
        [
            sys.executable,
            "workflow_scripts/train_stage1.py",
            f"--settings={json.dumps(single)}",
            "--splits=results/splits",
            "--train-clips=results/batching/train_clips.arrow",
            f"--tokenizer=results/tokenizer/bpe{vocab}",
            "--balance=results/balance/weights.json",
            "--out-dir=results/stage1_single",
            "--no-progress",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((root / "results/stage1_single/train_summary.json").read_text())["devices"] == 1
    a, b = val_rows(root / "results/stage1/metrics.csv"), val_rows(root / "results/stage1_single/metrics.csv")
    print(f"validation loss (step, loss): srun DDP x{RANKS} {a}; one process, accumulate {RANKS}: {b}")
    # Before training: the same initial weights on the whole validation split, sharded over the
    # two ranks or not (measured: 7.47166 both).
    assert a[0][0] == b[0][0] == 0 and a[0][1] == pytest.approx(b[0][1], rel=1e-4)
    # After the first optimizer step on the same global batch (2 ranks x 1 micro-batch, or 1 x 2
    # accumulated): measured 7.52689 vs 7.52821, a 0.02 % gap for a 0.7 % move from step 0.
    after = [dict(a)[1], next(loss for step, loss in b if step == 1)]
    assert abs(after[0] - a[0][1]) > 0.002 * a[0][1]
    assert after[0] == pytest.approx(after[1], rel=2e-3)


def test_stages_2_and_3_run_on_slurm_as_zero2_ranks_offloading_checkpoints(slurm, stage2_copy, tmp_path, monkeypatch):
    """Stage 2a from the Stage-1 model, then 2b and 3 (the session's Stage-2 run, trained again), each
    one SLURM job whose two CPU ranks srun starts under Lightning's DeepSpeedStrategy with the build
    guide's ZeRO-2 JSON over gloo (the 8-GPU path); every checkpoint, a directory of both ranks' ZeRO
    shards, goes to the local S3 server and is verified there; the shards consolidate into a
    final.ckpt that reloads."""
    from maya.stage2.model import MayaSALM
    from maya.storage import StorageSettings, download_checkpoint, make_client, remote_checkpoints
    from tests.conftest import STAGE2
    from tests.s3.strict_store import StrictStore
    from tests.test_storage import BUCKET, storage_section, use_test_credentials

    root = stage2_copy
    use_test_credentials(monkeypatch, tmp_path)  # sbatch exports the environment to the job, srun to its ranks
    before = set(slurm.run(["squeue", "-h", "--states=all", "-o", "%i"]).stdout.split())
    with StrictStore(workdir=tmp_path) as store:
        storage = storage_section(store)
        s = StorageSettings.from_config(storage)
        make_client(s).create_bucket(Bucket=BUCKET)
        trainer = {**STAGE2["stage2"]["trainer"], "devices": RANKS, "accelerator": "cpu", "strategy": "deepspeed"}
        # Two validation clips per language: each validation pass is an LLM decode on two CPU ranks.
        stage2 = {**STAGE2["stage2"], "trainer": trainer, "val_max_clips_per_language": 2}
        cfg = {**TINY_CONFIG, **STAGE2, "stage2": stage2, "run_name": "slurm", "storage": storage}
        write_config(root / "tiny.yaml", cfg)
        # The three training jobs only: their settings changed; the bucket alone reruns nothing.
        out = snakemake(root, "--profile", str(local_profile(root)), "results/stage3/final.ckpt", timeout=1500)
        client = make_client(s)
        remote = {st: remote_checkpoints(client, s, f"maya-asr/slurm/{st}") for st in ("stage2a", "stage2b", "stage3")}
        (zero,) = remote["stage2b"]
        back = download_checkpoint(client, s, zero, tmp_path / "back")

    jobs = [j.split("|") for j in slurm.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%k"]).stdout.split()]
    print(slurm.run(["squeue", "--states=all", "-o", "%.8i %.10T %.6D %.5C %.40k"]).stdout)
    new = [j for j in jobs if j[0] not in before]
    assert len(new) == 3 and all(j[1] == "COMPLETED" and "train_stage2" in j[2] for j in new), (new, out.stderr[-3000:])
    for stage, steps in (("stage2a", 3), ("stage2b", 2), ("stage3", 2)):
        log = (root / f"logs/{stage}/train.log").read_text()
        reports = [line for line in log.splitlines() if line.startswith(f"stage {stage}: ")]
        assert log.count("maya: train_stage2: ") == RANKS and len(reports) == 1, log[-3000:]  # rank 0 reports
        assert f"world_size: {RANKS}" in log  # DeepSpeed consolidating both ranks' shards
        summary = json.loads((root / f"results/{stage}/train_summary.json").read_text())
        print(stage, {k: summary[k] for k in ("steps", "devices", "strategy", "deepspeed", "storage")})
        assert summary["strategy"] == "CPUDeepSpeedStrategy" and summary["devices"] == RANKS
        assert summary["steps"] == steps and summary["sampler"]["batches_per_rank"] >= 1
        assert summary["deepspeed"]["zero_stage"] == 2
        assert summary["deepspeed"]["optimizer"] == "DeepSpeedZeroOptimizer"  # ZeRO-2 wrapping our torch AdamW
        assert summary["storage"]["verified"] >= 1 and summary["storage"]["pending"] == []
        assert not (root / f"results/{stage}/final.ckpt.zero").exists()  # consolidated into one file
        for r in remote[stage]:
            names = [f["path"] for f in r["files"]]
            assert r["kind"] == "directory" and any("zero_pp_rank_1" in n for n in names), names
    assert [r["step"] for r in remote["stage2a"]] == [2] and zero["step"] == 2
    # The ZeRO directory round-trips file for file (Lightning's DeepSpeedStrategy bypasses CheckpointIO).
    local = root / "results/stage2b/run/checkpoints/step0000002.ckpt"
    assert all((back / f["path"]).read_bytes() == (local / f["path"]).read_bytes() for f in zero["files"])

    ckpt = torch.load(root / "results/stage3/final.ckpt", map_location="cpu", weights_only=False)
    monkeypatch.chdir(root)  # the checkpoint names results/tokenizer/gemma
    model = MayaSALM.load_from_checkpoint("results/stage3/final.ckpt", map_location="cpu", weights_only=False)
    mine = model.state_dict()
    assert set(mine) == set(ckpt["state_dict"]) and all(torch.equal(mine[k], v) for k, v in ckpt["state_dict"].items())
