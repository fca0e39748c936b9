"""The week-long run survives, through Snakemake on the tiny corpus: Stage 1 with checkpoint offload
to a real S3-compatible server (moto behind tests/s3/strict_store.py) and tracked in a real MLflow
server and W&B (offline). The node is lost mid-run (the training killed, its run directory deleted)
and the rerun resumes from the bucket; then the store goes down for a whole run, which still
finishes, deletes nothing unverified and reports what is pending. No output of any run holds the
credentials."""

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import TINY_CONFIG, kill_snakemake_at, snakemake, write_config
from tests.s3.strict_store import StrictStore
from tests.test_storage import BUCKET, SECRET, storage_section, use_test_credentials

pytestmark = pytest.mark.workflow
TINY = ("--configfile", "tiny.yaml", "ops.yaml")


@pytest.fixture
def mlflow_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tmp_path / "mlflow"
    d.mkdir()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            f"sqlite:///{d}/runs.db",
            "--default-artifact-root",
            f"file:{d}/artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=open(d / "server.log", "wb"),  # noqa: SIM115 (the server's own log, closed with it)
        stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            break
        except OSError:
            assert proc.poll() is None, (d / "server.log").read_text()[-2000:]
            time.sleep(0.5)
    yield uri
    proc.terminate()
    proc.wait(timeout=30)


def test_offloaded_stage1_resumes_from_the_bucket_and_survives_the_store_going_down(
    tiny_copy, tmp_path, monkeypatch, mlflow_server
):
    use_test_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("WANDB_SILENT", "true")
    with StrictStore(workdir=tmp_path) as store:
        storage = storage_section(store, keep_local=1, drain_timeout_s=60)
        ops = {
            "storage": storage,
            "tracking": {"loggers": ["mlflow", "wandb"], "mlflow": {"tracking_uri": mlflow_server}},
        }
        write_config(tiny_copy / "ops.yaml", ops)
        trainer = {
            **TINY_CONFIG["stage1"]["trainer"],
            "max_steps": 6,
            "checkpoint_every_n_steps": 2,
            "val_check_interval": 100,
        }
        write_config(tiny_copy / "tiny.yaml", {**TINY_CONFIG, "stage1": {"trainer": trainer}})
        from maya.storage import StorageSettings, make_client, remote_checkpoints

        s = StorageSettings.from_config(storage)
        make_client(s).create_bucket(Bucket=BUCKET)
        run = tiny_copy / "results/stage1/run"

        # The node dies once a checkpoint is verified in the bucket (.offload.json records it), and its disk
        # with it.
        kill_snakemake_at(
            tiny_copy, run / "checkpoints/.offload.json", "--cores", "2", "results/stage1/final.nemo", *TINY
        )
        uploaded = [m["step"] for m in remote_checkpoints(make_client(s), s, "maya-asr/demo/stage1")]
        assert uploaded and max(uploaded) >= 2
        shutil.rmtree(run)
        snakemake(tiny_copy, "--unlock", *TINY)
        snakemake(tiny_copy, "--cores", "2", "results/stage1/final.nemo", *TINY)
        summary = json.loads((tiny_copy / "results/stage1/train_summary.json").read_text())
        st = summary["storage"]
        assert st["resumed_from_bucket"].endswith(f"step{max(uploaded):07d}.ckpt"), st
        assert summary["resumed_from"].endswith(f"step{max(uploaded):07d}.ckpt") and summary["steps"] == 6
        assert st["pending"] == [] and st["verified"] >= 1 and st["loop_wait_s"] < 1.0
        remote = {m["step"]: m for m in remote_checkpoints(make_client(s), s, "maya-asr/demo/stage1")}
        assert {2, 4, 6} <= set(remote) | set(uploaded)
        # keep_local 1: the newest, and the checkpoint the run resumed from, which is never deleted.
        local = sorted(p.name for p in (run / "checkpoints").glob("step*.ckpt"))
        assert local == sorted({f"step{max(uploaded):07d}.ckpt", "step0000006.ckpt"})
        last = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
        assert last["global_step"] == 6 and last["maya_sampler"]["consumed"] >= 1  # mid-epoch, same batches
        assert "resuming from the bucket" in (tiny_copy / "logs/stage1/train.log").read_text()
        print(
            "offload:",
            json.dumps(
                {
                    k: st[k]
                    for k in (
                        "resumed_from_bucket",
                        "uploaded",
                        "verified",
                        "deleted_local",
                        "upload_MBps",
                        "loop_wait_s",
                    )
                }
            ),
        )

        # Tracked: the run in MLflow with its settings and per-language validation, and in W&B offline.
        from mlflow.tracking import MlflowClient

        client = MlflowClient(mlflow_server)
        (exp,) = [e for e in client.search_experiments() if e.name == "maya-asr"]
        runs = client.search_runs([exp.experiment_id])
        assert runs and all(r.data.tags.get("mlflow.runName") == "demo/stage1" for r in runs)
        metrics = set().union(*(r.data.metrics for r in runs))
        assert {"val_cer", "val_wer"} <= metrics and any(m.startswith("val_cer_") for m in metrics)
        assert any(r.data.params.get("stage1.trainer.max_steps") == "6" for r in runs)
        assert list(run.glob("wandb/offline-run-*"))

        # The store is down for a whole (new) run: training finishes, nothing unverified is deleted,
        # and the summary says what is pending.
        store.down = True
        write_config(tiny_copy / "tiny.yaml", {**TINY_CONFIG, "stage1": {"trainer": {**trainer, "max_steps": 4}}})
        write_config(tiny_copy / "ops.yaml", {**ops, "storage": {**storage, "drain_timeout_s": 20}})
        snakemake(tiny_copy, "--cores", "2", "results/stage1/final.nemo", *TINY)
        summary = json.loads((tiny_copy / "results/stage1/train_summary.json").read_text())
        assert summary["steps"] == 4 and summary["storage"]["verified"] == 0
        # A changed setting restarts instead of resuming: the old run directory is moved aside.
        assert summary["resumed_from"] is None and list((tiny_copy / "results/stage1").glob("run.stale-*"))
        assert summary["storage"]["pending"] == ["step0000002.ckpt", "step0000004.ckpt"]
        assert len(list((run / "checkpoints").glob("step*.ckpt"))) == 2  # keep_local 1, but none verified
        store.down = False

        # The seed's `make validate-r2`, as a file target: up, verified, down, compared, listed, deleted.
        snakemake(tiny_copy, "--cores", "1", "results/storage/validate.json", *TINY)
        report = json.loads((tiny_copy / "results/storage/validate.json").read_text())
        assert report["ok"] and report["objects"]["multipart"]["parts"] == 3
        print("validate:", json.dumps(report["objects"]))

    # No output of any run, nor Snakemake's own records, holds the secret.
    leaks = [
        str(p)
        for d in ("results", "logs", ".snakemake", "reports")
        for p in (tiny_copy / d).rglob("*")
        if p.is_file() and not p.is_symlink() and SECRET.encode() in p.read_bytes()
    ]
    assert leaks == []
