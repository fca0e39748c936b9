"""Stage 2b under Lightning's DeepSpeedStrategy with the build guide's ZeRO-2 JSON, on two CPU ranks
over gloo, from the session's Stage-2 run (tests/conftest.py)."""

import json

import pytest
import torch

from tests.conftest import STAGE2
from tests.helpers import TINY_CONFIG

pytestmark = pytest.mark.workflow


DEEPSPEED_RUN = """
import json, sys
import yaml
from maya.config import deep_update, validate_config
from maya.stage2.train import train
from tests.deepspeed_cpu import CPUDeepSpeedStrategy

cfg = yaml.safe_load(open("config.yaml"))
ops = json.loads(sys.argv[3])
for extra in sys.argv[4:]:
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
                progress=False, strategy=CPUDeepSpeedStrategy(config=s2["deepspeed"]), ops=ops)
if summary:  # rank 0 alone writes and reports
    print("SUMMARY " + json.dumps(summary))
"""
RANKS = 2  # what ZeRO-2 needs to shard anything; each extra CPU rank costs ~30 s here


def test_stage_2b_runs_lightning_deepspeed_zero2(stage2_run, tmp_path, monkeypatch):
    """The production 2b path (Lightning's DeepSpeedStrategy with the build guide's ZeRO-2 JSON, our
    loop, our sampler) on two CPU ranks over gloo; the two ranks' ZeRO shards consolidate into a
    final.ckpt that reloads; the ZeRO checkpoint directory (both ranks' shards) goes to the bucket,
    verified, and comes back file for file (Lightning's DeepSpeedStrategy bypasses CheckpointIO)."""
    import os
    import subprocess
    import sys

    from maya.storage import StorageSettings, download_checkpoint, make_client, remote_checkpoints
    from tests.helpers import REPO
    from tests.s3.strict_store import StrictStore
    from tests.test_storage import BUCKET, SECRET

    env = {
        **os.environ,
        "PYTHONPATH": f"{stage2_run}:{REPO}",
        "AWS_ACCESS_KEY_ID": "maya-test-key",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    out = tmp_path / "ds"
    script = tmp_path / "deepspeed_run.py"  # a file: Lightning starts rank 1 by running it again
    script.write_text(DEEPSPEED_RUN)
    with StrictStore(workdir=tmp_path) as store:
        storage = {
            "enabled": True,
            "bucket": BUCKET,
            "endpoint_url": store.endpoint,
            "region": "us-east-1",
            "addressing_style": "path",
            "part_size_mb": 5,
            "attempts": 2,
            "backoff_s": 0.05,
        }
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            monkeypatch.setenv(k, env[k])
        s = StorageSettings.from_config(storage)
        make_client(s).create_bucket(Bucket=BUCKET)
        ops = {"run_name": "zero2", "storage": storage}
        proc = subprocess.run(
            [
                sys.executable,
                str(script),
                str(out),
                str(RANKS),
                json.dumps(ops),
                json.dumps(TINY_CONFIG),
                json.dumps(STAGE2),
            ],
            cwd=stage2_run,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
        (remote,) = remote_checkpoints(make_client(s), s, "maya-asr/zero2/stage2b")
        assert remote["kind"] == "directory" and remote["step"] == 2
        names = [f["path"] for f in remote["files"]]
        assert any("zero_pp_rank_0" in n for n in names) and any("zero_pp_rank_1" in n for n in names)
        back = download_checkpoint(make_client(s), s, remote, tmp_path / "back")
        local = out / "run/checkpoints/step0000002.ckpt"
        assert all((back / n).read_bytes() == (local / n).read_bytes() for n in names)
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
    assert summary["storage"]["verified"] == 1 and summary["storage"]["pending"] == []
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
