"""Checkpoint offload to S3-compatible object storage (Cloudflare R2, AWS S3, MinIO), verified.

Every checkpoint a stage writes (a ``.ckpt`` file, or a DeepSpeed directory of per-rank shards) goes
to ``s3://{bucket}/{prefix}/{run_name}/{stage}/{checkpoint}/files/...`` from a background thread, so
the training loop never waits on the network. An upload counts only once it is verified back from
the store: each object's size, its ETag (the MD5 for a single PUT; for a multipart upload the MD5 of
the part MD5s plus ``-N``, which a fixed part size makes computable locally) and the SHA-256 stored
as object metadata, then a per-checkpoint ``MANIFEST.json`` written **last** and verified the same
way. A checkpoint without a verified manifest is never taken as complete, for retention or resume.

Local retention keeps the newest ``keep_local`` step checkpoints (plus ``last.ckpt``) and never
deletes one that is not verified remotely, nor the checkpoint the run resumed from. Failures (the
store down or slow, 5xx, timeouts, dropped connections) are retried with backoff; the training goes
on, nothing unverified is deleted, and what is still pending is retried with the next checkpoint and
at the end, and reported.

Credentials come only from the standard places boto3 reads (environment, the shared
config/credentials files, ``storage.profile``); nothing here reads, logs or stores them. Requests
carry no flexible checksums (``request_checksum_calculation="when_required"``): boto3 >= 1.36 would
otherwise send CRC32 trailers in ``aws-chunked`` bodies, which R2 rejects (boto3 issues 4392, 4435);
integrity is ``Content-MD5`` per request plus the verification above.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from maya.config import section_defaults
from maya.errors import MayaError

log = logging.getLogger(__name__)
MANIFEST = "MANIFEST.json"
STATE = ".offload.json"  # the ckpt dir's record of what is verified remotely
_D = section_defaults("storage")


@dataclass(frozen=True)
class StorageSettings:
    """The ``storage`` config section (defaults: the schema's)."""

    enabled: bool = _D["enabled"]
    bucket: str = _D["bucket"]
    prefix: str = _D["prefix"]
    endpoint_url: str | None = _D["endpoint_url"]
    region: str | None = _D["region"]
    addressing_style: str = _D["addressing_style"]
    profile: str | None = _D["profile"]
    ca_bundle: str | None = _D["ca_bundle"]
    part_size_mb: int = _D["part_size_mb"]
    max_concurrency: int = _D["max_concurrency"]
    keep_local: int | None = _D["keep_local"]
    attempts: int = _D["attempts"]
    backoff_s: float = _D["backoff_s"]
    connect_timeout_s: float = _D["connect_timeout_s"]
    read_timeout_s: float = _D["read_timeout_s"]
    drain_timeout_s: float = _D["drain_timeout_s"]

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> StorageSettings:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (section or {}).items() if k in names})

    @property
    def part_size(self) -> int:
        return self.part_size_mb << 20


def make_client(s: StorageSettings):
    """A boto3 S3 client for ``s``: retries in botocore's standard mode, no flexible checksums."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=s.profile) if s.profile else boto3.session.Session()
    config = Config(
        region_name=s.region,
        signature_version="s3v4",
        s3={"addressing_style": s.addressing_style},
        retries={"max_attempts": s.attempts, "mode": "standard"},
        connect_timeout=s.connect_timeout_s,
        read_timeout=s.read_timeout_s,
        max_pool_connections=max(10, 2 * s.max_concurrency),
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=s.endpoint_url, config=config, verify=s.ca_bundle or None)


def remote_base(s: StorageSettings, run_name: str, stage: str) -> str:
    return "/".join(p.strip("/") for p in (s.prefix, run_name, stage) if p and p.strip("/"))


# ---- hashing: what the store must hold, computed while reading -------------------------------------
@dataclass
class FileDigest:
    bytes: int
    sha256: str
    etag: str  # what S3/R2 report: md5, or md5(part md5s)-N for a multipart upload
    part_md5s: list[bytes] = field(default_factory=list)


def digest_file(path: Path, part_size: int) -> FileDigest:
    """SHA-256 of the whole file and the MD5 of each ``part_size`` part, in one read."""
    sha = hashlib.sha256()
    parts = []
    size = 0
    with open(path, "rb") as f:
        while block := f.read(part_size):
            sha.update(block)
            parts.append(hashlib.md5(block).digest())
            size += len(block)
    if len(parts) <= 1:
        md5 = parts[0].hex() if parts else hashlib.md5(b"").hexdigest()
        return FileDigest(size, sha.hexdigest(), md5, parts)
    etag = f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"
    return FileDigest(size, sha.hexdigest(), etag, parts)


def _b64(md5: bytes) -> str:
    return base64.b64encode(md5).decode()


class VerificationError(MayaError):
    """The store does not hold what was sent (size, ETag or SHA-256 differ)."""


# ---- one checkpoint up, verified -------------------------------------------------------------------
def checkpoint_files(path: Path) -> list[tuple[str, Path]]:
    """(relative name, file) of a checkpoint: the file itself, or every file of a DeepSpeed directory."""
    if path.is_file():
        return [(path.name, path)]
    return sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())


def upload_checkpoint(client, s: StorageSettings, base: str, path: Path, meta: Mapping[str, Any]) -> dict:
    """Upload one checkpoint (file or directory) and its manifest, verifying every object; returns
    the manifest. Raises on any failure (nothing is then taken as uploaded)."""
    entries = []
    for rel, file in checkpoint_files(path):
        key = f"{base}/{path.name}/files/{rel}"
        d = digest_file(file, s.part_size)
        if len(d.part_md5s) <= 1:
            with open(file, "rb") as f:
                body = f.read()
            client.put_object(
                Bucket=s.bucket,
                Key=key,
                Body=body,
                ContentMD5=_b64(d.part_md5s[0] if d.part_md5s else hashlib.md5(b"").digest()),
                Metadata={"sha256": d.sha256},
            )
        else:
            _multipart(client, s, key, file, d)
        _verify(client, s.bucket, key, d)
        entries.append({"path": rel, "key": key, "bytes": d.bytes, "sha256": d.sha256, "etag": d.etag})
    manifest = {
        "format": 1,
        "checkpoint": path.name,
        "kind": "file" if path.is_file() else "directory",
        **meta,
        "files": entries,
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    body = json.dumps(manifest, indent=1).encode()
    md5 = hashlib.md5(body).digest()
    key = f"{base}/{path.name}/{MANIFEST}"
    client.put_object(
        Bucket=s.bucket,
        Key=key,
        Body=body,
        ContentMD5=_b64(md5),
        ContentType="application/json",
        Metadata={"sha256": hashlib.sha256(body).hexdigest()},
    )
    _verify(client, s.bucket, key, FileDigest(len(body), hashlib.sha256(body).hexdigest(), md5.hex()))
    return manifest


def _multipart(client, s: StorageSettings, key: str, file: Path, d: FileDigest) -> None:
    """Fixed-size parts (R2 requires equal parts but the last), ``max_concurrency`` at a time, each
    with its Content-MD5; aborted on any failure so no half upload lingers."""
    up = client.create_multipart_upload(Bucket=s.bucket, Key=key, Metadata={"sha256": d.sha256})
    upload_id = up["UploadId"]
    fd = os.open(file, os.O_RDONLY)

    def put(number: int) -> dict:
        data = os.pread(fd, s.part_size, (number - 1) * s.part_size)
        if hashlib.md5(data).digest() != d.part_md5s[number - 1]:
            raise VerificationError(f"{file} changed while it was being uploaded (part {number})")
        r = client.upload_part(
            Bucket=s.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ContentMD5=_b64(d.part_md5s[number - 1]),
        )
        return {"PartNumber": number, "ETag": r["ETag"]}

    try:
        with ThreadPoolExecutor(max_workers=s.max_concurrency) as pool:
            parts = list(pool.map(put, range(1, len(d.part_md5s) + 1)))
        client.complete_multipart_upload(Bucket=s.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        try:
            client.abort_multipart_upload(Bucket=s.bucket, Key=key, UploadId=upload_id)
        except Exception as e:  # the store may be what failed; its lifecycle rules clean up
            log.warning("could not abort the multipart upload of %s: %s", key, e)
        raise
    finally:
        os.close(fd)


def _verify(client, bucket: str, key: str, d: FileDigest) -> None:
    head = client.head_object(Bucket=bucket, Key=key)
    got = (head["ContentLength"], head["ETag"].strip('"'), head.get("Metadata", {}).get("sha256"))
    want = (d.bytes, d.etag, d.sha256)
    if got != want:
        raise VerificationError(f"s3://{bucket}/{key}: the store holds (bytes, etag, sha256) {got}, sent {want}")


# ---- resume: the newest verified checkpoint back ---------------------------------------------------
def remote_checkpoints(client, s: StorageSettings, base: str) -> list[dict]:
    """Every manifest under ``base``, newest step first (unreadable ones are skipped with a warning)."""
    found = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=s.bucket, Prefix=f"{base}/"):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith(f"/{MANIFEST}"):
                continue
            try:
                body = client.get_object(Bucket=s.bucket, Key=obj["Key"])["Body"].read()
                m = json.loads(body)
                m["_key"] = obj["Key"]
                found.append(m)
            except Exception as e:
                log.warning("skipping remote checkpoint s3://%s/%s: unreadable manifest (%s)", s.bucket, obj["Key"], e)
    return sorted(found, key=lambda m: (m.get("step", -1), m.get("checkpoint", "")), reverse=True)


def download_checkpoint(client, s: StorageSettings, manifest: Mapping[str, Any], dest_dir: Path) -> Path:
    """Fetch one checkpoint into ``dest_dir`` (SHA-256 and size checked while streaming); raises
    VerificationError when an object is missing or differs. Written under a temporary name and
    renamed into place, so a partial download is never taken for a checkpoint."""
    name = manifest["checkpoint"]
    tmp = dest_dir / f".download-{name}"
    _remove(tmp)
    try:
        for entry in manifest["files"]:
            target = tmp / entry["path"] if manifest["kind"] == "directory" else tmp
            target.parent.mkdir(parents=True, exist_ok=True)
            sha, n = hashlib.sha256(), 0
            try:
                body = client.get_object(Bucket=s.bucket, Key=entry["key"])["Body"]
            except Exception as e:
                raise VerificationError(f"s3://{s.bucket}/{entry['key']}: {e}") from e
            with open(target, "wb") as f:
                for chunk in iter(lambda b=body: b.read(1 << 22), b""):
                    sha.update(chunk)
                    n += len(chunk)
                    f.write(chunk)
            if (n, sha.hexdigest()) != (entry["bytes"], entry["sha256"]):
                raise VerificationError(
                    f"s3://{s.bucket}/{entry['key']}: {n} bytes, sha256 {sha.hexdigest()[:12]}...; "
                    f"the manifest says {entry['bytes']} bytes, {entry['sha256'][:12]}..."
                )
        final = dest_dir / name
        _remove(final)
        tmp.rename(final)
        return final
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fetch_latest(client, s: StorageSettings, base: str, run_key: str, dest_dir: Path) -> Path | None:
    """The newest remote checkpoint of this run (same run key) whose objects all verify, downloaded
    into ``dest_dir``; others are skipped with a warning naming them."""
    for m in remote_checkpoints(client, s, base):
        where = f"s3://{s.bucket}/{base}/{m.get('checkpoint', '?')}"
        if m.get("run_key") != run_key:
            log.info("remote checkpoint %s belongs to another run key; not resuming from it", where)
            continue
        try:
            path = download_checkpoint(client, s, m, dest_dir)
        except VerificationError as e:
            log.warning("remote checkpoint %s skipped: %s", where, e)
            continue
        log.info("resuming from the bucket: %s (step %s)", where, m.get("step"))
        return path
    return None


# ---- the background uploader + local retention -----------------------------------------------------
@dataclass
class OffloadStats:
    uploaded: int = 0
    verified: int = 0
    deleted_local: int = 0
    failed_attempts: int = 0
    bytes: int = 0
    upload_s: float = 0.0
    loop_wait_s: float = 0.0
    pending: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        out = asdict(self)
        out["upload_MBps"] = round(self.bytes / 2**20 / self.upload_s, 1) if self.upload_s else None
        out["errors"] = self.errors[-5:]
        return out


class CheckpointOffload:
    """Uploads checkpoints in a background thread and applies local retention.

    ``submit(path, step)`` returns at once (what the training loop pays is measured as
    ``loop_wait_s``). With ``enabled`` false nothing is uploaded and retention (if ``keep_local``)
    deletes old step checkpoints directly."""

    def __init__(
        self,
        s: StorageSettings,
        ckpt_dir: Path,
        base: str,
        meta: Mapping[str, Any],
        *,
        protect: Path | None = None,
        client=None,
    ) -> None:
        self.s, self.ckpt_dir, self.base, self.meta = s, Path(ckpt_dir), base, dict(meta)
        self.protect = Path(protect).resolve() if protect else None  # the resume source: never deleted
        self.stats = OffloadStats()
        self.client = client if client is not None or not s.enabled else make_client(s)
        self.state_path = self.ckpt_dir / STATE
        self.verified: dict[str, dict] = self._load_state()
        self.pending: dict[str, int] = {}  # checkpoint name -> step, waiting or failed
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _load_state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.verified, indent=1))
        os.replace(tmp, self.state_path)

    # -- called from the training loop ----------------------------------------------------------------
    def submit(self, path: Path, step: int) -> None:
        t = time.perf_counter()
        path = Path(path)
        if not self.s.enabled:
            self.prune()
        else:
            with self._lock:
                self.pending[path.name] = step
            self._queue.put((path.name, step))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="checkpoint-offload", daemon=True)
                self._thread.start()
        self.stats.loop_wait_s += time.perf_counter() - t

    def drain(self, timeout: float | None = None) -> OffloadStats:
        """Wait (at most ``timeout``, default ``drain_timeout_s``) for pending uploads, retrying the
        failed ones once more; what is left is reported as pending."""
        if self.s.enabled:
            with self._lock:
                retry = [(n, st) for n, st in self.pending.items()]
            for item in retry:
                self._queue.put(item)
            if self._thread is None and retry:
                self._thread = threading.Thread(target=self._run, name="checkpoint-offload", daemon=True)
                self._thread.start()
            self._queue.put(None)
            if self._thread is not None:
                self._thread.join(self.s.drain_timeout_s if timeout is None else timeout)
                if self._thread.is_alive():
                    log.warning("checkpoint offload still busy after the drain timeout; left pending")
        self.prune()
        with self._lock:
            self.stats.pending = sorted(self.pending)
        if self.stats.pending:
            log.warning(
                "checkpoints not verified in the bucket (kept locally, retried on the next run): %s",
                ", ".join(self.stats.pending),
            )
        return self.stats

    # -- the background thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            name, step = item
            if name in self.verified or name not in self.pending:
                continue
            self._upload_with_retries(name, step)
            # A store that came back: earlier failures go again, oldest first.
            with self._lock:
                again = [(n, st) for n, st in sorted(self.pending.items(), key=lambda x: x[1]) if n != name]
            if name in self.verified:
                for it in again:
                    self._queue.put(it)
            self.prune()

    def _upload_with_retries(self, name: str, step: int) -> None:
        path = self.ckpt_dir / name
        for attempt in range(1, self.s.attempts + 1):
            if not path.exists():
                with self._lock:
                    self.pending.pop(name, None)
                return
            t = time.perf_counter()
            try:
                manifest = upload_checkpoint(self.client, self.s, self.base, path, {**self.meta, "step": step})
            except Exception as e:
                self.stats.failed_attempts += 1
                self.stats.errors.append(f"{name} attempt {attempt}: {type(e).__name__}: {e}")
                log.warning("upload of %s failed (attempt %d of %d): %s", name, attempt, self.s.attempts, e)
                time.sleep(min(60.0, self.s.backoff_s * 2 ** (attempt - 1)))
                continue
            size = sum(f["bytes"] for f in manifest["files"])
            self.stats.upload_s += time.perf_counter() - t
            self.stats.bytes += size
            self.stats.uploaded += 1
            self.stats.verified += 1
            with self._lock:
                self.pending.pop(name, None)
                self.verified[name] = {"step": step, "bytes": size, "manifest": f"{self.base}/{name}/{MANIFEST}"}
                self._save_state()
            log.info("checkpoint %s uploaded and verified (%.1f MB)", name, size / 2**20)
            return
        log.warning("upload of %s left pending after %d attempts; retried later", name, self.s.attempts)

    # -- retention ------------------------------------------------------------------------------------
    def prune(self) -> None:
        """Keep the newest ``keep_local`` step checkpoints; delete older ones only when verified in
        the bucket (or when offload is off), never ``last.ckpt`` nor the resume source."""
        keep = self.s.keep_local
        if keep is None:
            return
        steps = sorted(self.ckpt_dir.glob("step*.ckpt"), key=lambda p: p.name)
        for path in steps[: max(0, len(steps) - keep)]:
            if self.protect is not None and path.resolve() == self.protect:
                continue
            with self._lock:
                if self.s.enabled and (path.name not in self.verified or path.name in self.pending):
                    continue
            _remove(path)
            self.stats.deleted_local += 1
            log.info(
                "deleted local checkpoint %s (%s)",
                path.name,
                "verified in the bucket" if self.s.enabled else "retention",
            )


def offload_callback(offload: CheckpointOffload):
    """A Lightning ``ModelCheckpoint`` that hands every step checkpoint it writes to ``offload``
    (rank 0, after every rank finished writing: a DeepSpeed save is collective, and
    ``Trainer.save_checkpoint`` ends in a barrier). Lightning's DeepSpeedStrategy bypasses
    CheckpointIO, so this is where a ZeRO checkpoint directory can be caught."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    class OffloadingCheckpoint(ModelCheckpoint):
        def _save_checkpoint(self, trainer, filepath: str) -> None:
            super()._save_checkpoint(trainer, filepath)
            if trainer.is_global_zero and Path(filepath).name.startswith("step"):
                offload.submit(Path(filepath), int(trainer.global_step))

    return OffloadingCheckpoint


# ---- readiness and the end-to-end check ------------------------------------------------------------
def probe(s: StorageSettings, client=None) -> list[str]:
    """What stops offload from working, as messages (empty: fine): credentials, the bucket, and a
    write + read back + delete of a small probe object."""
    import boto3

    problems: list[str] = []
    try:
        session = boto3.session.Session(profile_name=s.profile) if s.profile else boto3.session.Session()
        if session.get_credentials() is None:
            return [
                "storage: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, use a shared "
                "credentials file, or name a profile in storage.profile)"
            ]
        client = client or make_client(s)
        client.head_bucket(Bucket=s.bucket)
        key = f"{s.prefix.strip('/')}/.maya-probe-{os.getpid()}-{time.time_ns()}"
        body = os.urandom(1024)
        client.put_object(Bucket=s.bucket, Key=key, Body=body, ContentMD5=_b64(hashlib.md5(body).digest()))
        back = client.get_object(Bucket=s.bucket, Key=key)["Body"].read()
        client.delete_object(Bucket=s.bucket, Key=key)
        if back != body:
            problems.append(f"storage: s3://{s.bucket}/{key} read back different bytes")
    except Exception as e:
        problems.append(f"storage: s3://{s.bucket} at {s.endpoint_url or 'AWS'}: {type(e).__name__}: {e}")
    return problems


def validate_store(s: StorageSettings, big_mb: int | None = None, client=None) -> dict:
    """The seed's ``make validate-r2``: a multipart-sized object and a small one up, down, compared
    (SHA-256), listed and deleted; upload and download MB/s."""
    import tempfile

    client = client or make_client(s)
    base = f"{s.prefix.strip('/')}/.maya-validate-{time.time_ns()}"
    sizes = {"small": 4096, "multipart": (big_mb or 2 * s.part_size_mb + 1) << 20}
    report: dict[str, Any] = {"bucket": s.bucket, "endpoint_url": s.endpoint_url, "objects": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for label, size in sizes.items():
            src = Path(tmp) / label
            with open(src, "wb") as f:
                for off in range(0, size, 1 << 24):
                    f.write(os.urandom(min(1 << 24, size - off)))
            t = time.perf_counter()
            manifest = upload_checkpoint(client, s, base, src, {"purpose": "validate"})
            up = time.perf_counter() - t
            t = time.perf_counter()
            (Path(tmp) / "down").mkdir(exist_ok=True)
            back = download_checkpoint(client, s, manifest, Path(tmp) / "down")
            down = time.perf_counter() - t
            ok = digest_file(back, s.part_size).sha256 == manifest["files"][0]["sha256"]
            report["objects"][label] = {
                "bytes": size,
                "parts": len(digest_file(src, s.part_size).part_md5s),
                "sha256_equal": ok,
                "upload_MBps": round(size / 2**20 / up, 1),
                "download_MBps": round(size / 2**20 / down, 1),
            }
        listed = [
            o["Key"]
            for p in client.get_paginator("list_objects_v2").paginate(Bucket=s.bucket, Prefix=base)
            for o in p.get("Contents", [])
        ]
        for key in listed:
            client.delete_object(Bucket=s.bucket, Key=key)
        left = client.list_objects_v2(Bucket=s.bucket, Prefix=base).get("KeyCount", 0)
    report["listed"] = len(listed)
    report["deleted"] = len(listed) - left
    report["ok"] = all(o["sha256_equal"] for o in report["objects"].values()) and left == 0
    return report
