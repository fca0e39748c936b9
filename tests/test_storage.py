"""Checkpoint offload against a real S3-compatible server over HTTP(S) on 127.0.0.1 (moto's server
behind tests/s3/strict_store.py, which refuses what Cloudflare R2 refuses and injects faults), through
the same boto3 client code production uses."""

import os
from pathlib import Path

import pytest

from maya.storage import (
    MANIFEST,
    CheckpointOffload,
    StorageSettings,
    digest_file,
    download_checkpoint,
    fetch_latest,
    make_client,
    probe,
    remote_checkpoints,
    upload_checkpoint,
    validate_store,
)
from tests.s3.strict_store import StrictStore

BUCKET = "maya-test"
SECRET = "maya-test-secret-7f3a9c"  # grepped for in every output of a run (tests/test_operations.py)


def use_test_credentials(monkeypatch, tmp_path) -> None:
    """The test key pair in the environment (which Snakemake, sbatch and srun pass on), and no AWS
    config or credentials file of the machine's."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "maya-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def storage_section(store, **kw) -> dict:
    """The config's ``storage`` section for a workflow run against ``store`` (plain HTTP), retrying fast."""
    base = {
        "enabled": True,
        "bucket": BUCKET,
        "endpoint_url": store.endpoint,
        "region": "us-east-1",
        "addressing_style": "path",
        "part_size_mb": 5,
        "attempts": 2,
        "backoff_s": 0.05,
    }
    return {**base, **kw}


@pytest.fixture(autouse=True)
def credentials(monkeypatch, tmp_path):
    use_test_credentials(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with StrictStore(workdir=tmp_path_factory.mktemp("store")) as s:
        yield s


def settings_for(store, **kw) -> StorageSettings:
    base = {
        "enabled": True,
        "bucket": BUCKET,
        "endpoint_url": store.endpoint,
        "region": "us-east-1",
        "addressing_style": "path",
        "ca_bundle": store.ca_pem,
        "part_size_mb": 5,
        "attempts": 3,
        "backoff_s": 0.01,
        "connect_timeout_s": 2,
        "read_timeout_s": 5,
    }
    return StorageSettings(**{**base, **kw})


@pytest.fixture
def client(store):
    store.faults.clear()
    store.down = False
    c = make_client(settings_for(store))
    if BUCKET not in [b["Name"] for b in c.list_buckets()["Buckets"]]:
        c.create_bucket(Bucket=BUCKET)
    return c


def write(path: Path, mb: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(int(mb * 2**20)))
    return path


def test_multipart_upload_is_verified_by_size_etag_and_sha256_and_comes_back(store, client, tmp_path):
    s = settings_for(store)
    ckpt = write(tmp_path / "step0000002.ckpt", 11)  # 3 parts of 5 MB
    manifest = upload_checkpoint(client, s, "t1/run/stage1", ckpt, {"step": 2, "run_key": "k"})
    (entry,) = manifest["files"]
    assert entry["etag"].endswith("-3") and entry["sha256"] == digest_file(ckpt, s.part_size).sha256
    head = client.head_object(Bucket=BUCKET, Key=entry["key"])
    assert head["ETag"].strip('"') == entry["etag"] and head["Metadata"]["sha256"] == entry["sha256"]
    assert client.head_object(Bucket=BUCKET, Key=f"t1/run/stage1/step0000002.ckpt/{MANIFEST}")
    (listed,) = remote_checkpoints(client, s, "t1/run/stage1")
    back = download_checkpoint(client, s, listed, tmp_path / "down")
    assert back.read_bytes() == ckpt.read_bytes()
    assert store.rejected == []  # nothing R2 would refuse


def test_deepspeed_checkpoint_directory_round_trips(store, client, tmp_path):
    """A ZeRO checkpoint is a directory of per-rank shards: every file goes up, verified, and the
    directory comes back file for file."""
    s = settings_for(store)
    d = tmp_path / "step0000004.ckpt"
    for rel, mb in {
        "checkpoint/mp_rank_00_model_states.pt": 0.2,
        "checkpoint/bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt": 6,
        "checkpoint/bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt": 6,
        "latest": 0.001,
    }.items():
        write(d / rel, mb)
    manifest = upload_checkpoint(client, s, "t2/run/stage2b", d, {"step": 4, "run_key": "k"})
    assert manifest["kind"] == "directory" and len(manifest["files"]) == 4
    back = download_checkpoint(client, s, manifest, tmp_path / "down")
    for rel in ("latest", "checkpoint/bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"):
        assert (back / rel).read_bytes() == (d / rel).read_bytes()


def test_https_default_boto3_is_refused_as_r2_refuses_it_and_ours_is_not(tmp_path):
    """The trap: boto3 >= 1.36 sends CRC32 trailers in aws-chunked bodies over HTTPS; R2 answers 501."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    with StrictStore(tls=True, workdir=tmp_path) as tls:
        s = settings_for(tls)
        ours = make_client(s)
        ours.create_bucket(Bucket=BUCKET)
        stock = boto3.client(
            "s3", endpoint_url=tls.endpoint, verify=tls.ca_pem, config=Config(s3={"addressing_style": "path"})
        )
        with pytest.raises(ClientError, match="NotImplemented"):
            stock.put_object(Bucket=BUCKET, Key="x", Body=b"x" * 10_000)
        assert any("aws-chunked" in r or "x-amz-checksum" in r for r in tls.rejected)
        ckpt = write(tmp_path / "step0000001.ckpt", 6)
        assert upload_checkpoint(ours, s, "tls/run/stage1", ckpt, {"step": 1})["files"][0]["etag"].endswith("-2")
        assert probe(s, ours) == []


def test_unequal_parts_are_refused_by_the_strict_store(store, client):
    """The strict layer is real: a multipart upload with parts of different sizes fails to complete."""
    from botocore.exceptions import ClientError

    up = client.create_multipart_upload(Bucket=BUCKET, Key="unequal")
    parts = []
    for n, size in ((1, 5 << 20), (2, 6 << 20), (3, 1 << 20)):
        r = client.upload_part(Bucket=BUCKET, Key="unequal", UploadId=up["UploadId"], PartNumber=n, Body=b"a" * size)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    with pytest.raises(ClientError, match="InvalidPart"):
        client.complete_multipart_upload(
            Bucket=BUCKET, Key="unequal", UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
        )


def test_slow_down_dropped_connections_and_truncated_bodies_are_retried(store, client, tmp_path):
    s = settings_for(store, attempts=5)
    ckpt = write(tmp_path / "step0000003.ckpt", 11)
    store.faults.extend(["503", "drop", "503", "truncate", "drop"])
    manifest = upload_checkpoint(make_client(s), s, "t3/run/stage1", ckpt, {"step": 3})
    assert not store.faults  # every fault was met, and retried through
    assert download_checkpoint(client, s, manifest, tmp_path / "down").read_bytes() == ckpt.read_bytes()


def test_store_down_keeps_every_checkpoint_local_until_verified_then_retention(store, client, tmp_path):
    s = settings_for(store, keep_local=1, attempts=2)
    ckpts = tmp_path / "checkpoints"
    store.down = True
    off = CheckpointOffload(s, ckpts, "t4/run/stage1", {"run_key": "k"})
    for step in (2, 4, 6):
        write(ckpts / f"step{step:07d}.ckpt", 0.5)
        off.submit(ckpts / f"step{step:07d}.ckpt", step)
    (ckpts / "last.ckpt").write_bytes(b"last")
    stats = off.drain(timeout=60)
    assert stats.pending == ["step0000002.ckpt", "step0000004.ckpt", "step0000006.ckpt"]
    assert stats.deleted_local == 0 and len(list(ckpts.glob("step*.ckpt"))) == 3  # nothing unverified deleted
    assert stats.loop_wait_s < 0.5  # the training loop never waited on the network
    store.down = False
    again = CheckpointOffload(s, ckpts, "t4/run/stage1", {"run_key": "k"})  # e.g. the next run
    for step in (2, 4, 6):
        again.submit(ckpts / f"step{step:07d}.ckpt", step)
    stats = again.drain(timeout=60)
    assert stats.pending == [] and stats.verified == 3 and stats.deleted_local == 2
    assert sorted(p.name for p in ckpts.iterdir() if not p.name.startswith(".")) == ["last.ckpt", "step0000006.ckpt"]
    assert len(remote_checkpoints(client, s, "t4/run/stage1")) == 3


def test_retention_never_deletes_the_resume_source(store, client, tmp_path):
    s = settings_for(store, keep_local=1)
    ckpts = tmp_path / "checkpoints"
    for step in (2, 4, 6):
        write(ckpts / f"step{step:07d}.ckpt", 0.1)
    off = CheckpointOffload(s, ckpts, "t5/run/stage1", {"run_key": "k"}, protect=ckpts / "step0000002.ckpt")
    for step in (2, 4, 6):
        off.submit(ckpts / f"step{step:07d}.ckpt", step)
    off.drain(timeout=60)
    assert sorted(p.name for p in ckpts.glob("step*")) == ["step0000002.ckpt", "step0000006.ckpt"]


def test_local_retention_without_offload(tmp_path):
    ckpts = tmp_path / "checkpoints"
    off = CheckpointOffload(StorageSettings(keep_local=2), ckpts, "unused", {})
    for step in range(1, 6):
        write(ckpts / f"step{step:07d}.ckpt", 0.01)
        off.submit(ckpts / f"step{step:07d}.ckpt", step)
    assert sorted(p.name for p in ckpts.glob("step*")) == ["step0000004.ckpt", "step0000005.ckpt"]


def test_a_corrupted_or_half_written_remote_checkpoint_is_never_resumed_from(store, client, tmp_path, caplog):
    import boto3

    s = settings_for(store)
    base = "t6/run/stage1"
    src = tmp_path / "src"
    for step in (2, 4):
        upload_checkpoint(client, s, base, write(src / f"step{step:07d}.ckpt", 0.3), {"step": step, "run_key": "k"})
    # A newer checkpoint whose manifest never arrived (the node died mid-upload): not a checkpoint.
    client.put_object(Bucket=BUCKET, Key=f"{base}/step0000006.ckpt/files/step0000006.ckpt", Body=b"half")
    # The newest complete one is damaged in the bucket, behind the client's back.
    raw = boto3.client("s3", endpoint_url=store.moto_endpoint, region_name="us-east-1")
    raw.put_object(Bucket=BUCKET, Key=f"{base}/step0000004.ckpt/files/step0000004.ckpt", Body=b"rotten" * 100)
    # And a checkpoint of another run key is never taken.
    upload_checkpoint(client, s, base, write(src / "step0000009.ckpt", 0.1), {"step": 9, "run_key": "other"})
    path = fetch_latest(client, s, base, "k", tmp_path / "ckpts")
    assert path is not None and path.name == "step0000002.ckpt"
    assert path.read_bytes() == (src / "step0000002.ckpt").read_bytes()
    assert "step0000004.ckpt skipped" in caplog.text and "sha256" in caplog.text
    assert not list((tmp_path / "ckpts").glob(".download-*"))


def test_probe_names_missing_credentials_and_an_absent_bucket(store, monkeypatch):
    assert any(
        "does not exist" in p or "NoSuchBucket" in p or "404" in p
        for p in probe(settings_for(store, bucket="no-such-bucket"))
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (problem,) = probe(settings_for(store))
    assert problem.startswith("storage: no credentials")


def test_validate_store_reports_both_directions(store, client):
    report = validate_store(settings_for(store), big_mb=11)
    assert report["ok"] and report["objects"]["multipart"]["parts"] == 3
    assert report["deleted"] == report["listed"] > 0
    assert report["objects"]["multipart"]["upload_MBps"] > 0 and report["objects"]["small"]["sha256_equal"]
    assert not client.list_objects_v2(Bucket=BUCKET, Prefix="maya-asr/.maya-validate").get("KeyCount")


def test_readiness_gate_probes_the_store_with_every_other_check(store, tmp_path):
    """With offload on, a GPU launch is refused when the store is not usable, listed with the rest."""
    from maya.readiness import shared_checks

    trainer = {"accelerator": "gpu", "devices": 8, "checkpoint_every_n_steps": 5000}
    storage = {**settings_for(store).__dict__, "bucket": "no-such-bucket", "keep_local": 2}
    failures, report = shared_checks(trainer, 200_000, [], tmp_path, 1_000_000, cuda_devices=0, storage=storage)
    assert any(f.startswith("GPUs:") for f in failures) and any(
        f.startswith("storage: s3://no-such-bucket") for f in failures
    )
    assert report["checkpoints_planned"] == 3  # keep_local 2 + last.ckpt, not all 41
