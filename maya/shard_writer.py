"""Write shards in the production layout (see :mod:`maya.shard_schema`).

Used by the demo-corpus synthesiser, by tests that build broken shards, and by benchmarks that
need a full-size (15,000-clip) shard. Output is byte-deterministic for the same input: tar headers
carry no time or owner, Parquet files carry no pandas metadata.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from maya.shard_schema import (
    AUDIO_INDEX,
    AUDIO_INDEX_SCHEMA,
    AUDIO_TAR,
    MANIFEST,
    METADATA,
    METADATA_SCHEMA,
    shard_dir,
)


def encode_flac(samples: np.ndarray, sample_rate: int) -> bytes:
    """Encode float samples (mono ``(n,)`` or ``(n, channels)``) as 16-bit FLAC bytes."""
    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class ShardWriter:
    """Streams segments into ``{root}/lang={lang}/{shard_id}/``; call :meth:`close` to finish.

    ``add(segment_id, audio_bytes, **metadata)`` appends one tar member and one metadata row.
    Metadata keys are canonical column names (:data:`maya.shard_schema.METADATA_SCHEMA`).
    """

    root: Path
    lang: str
    shard_id: str
    member_suffix: str = ".flac"
    extra_manifest: dict[str, Any] = field(default_factory=dict)
    # metadata.parquet layout: rows per row group (None: one group) and CRC32 page checksums.
    row_group_size: int | None = None
    page_checksums: bool = False

    def __post_init__(self) -> None:
        self.dir = shard_dir(self.root, self.lang, self.shard_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._tar_path = self.dir / AUDIO_TAR
        self._tar = tarfile.open(self._tar_path, "w", format=tarfile.GNU_FORMAT)  # noqa: SIM115 (closed in __exit__)
        self._index: dict[str, list] = {n: [] for n in AUDIO_INDEX_SCHEMA.names}
        self._meta: dict[str, list] = {n: [] for n in METADATA_SCHEMA.names}
        self._member_sha: dict[str, str] = {}

    def add(self, segment_id: str, audio: bytes, **metadata: Any) -> None:
        member = f"{segment_id}{self.member_suffix}"
        info = tarfile.TarInfo(member)
        info.size = len(audio)
        info.mtime = 0
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self._tar.addfile(info, io.BytesIO(audio))
        # addfile() works on a copy of `info`; the payload ends the padded blocks just written.
        padded = -(-len(audio) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        self._index["segment_id"].append(segment_id)
        self._index["member"].append(member)
        self._index["offset"].append(self._tar.offset - padded)
        self._index["nbytes"].append(len(audio))
        self._member_sha[member] = hashlib.sha256(audio).hexdigest()
        row = {"segment_id": segment_id, "language": self.lang, **metadata}
        unknown = set(row) - set(self._meta)
        if unknown:
            raise KeyError(f"unknown metadata columns {sorted(unknown)} for {segment_id}")
        for name in self._meta:
            self._meta[name].append(row.get(name))

    def close(self) -> Path:
        self._tar.close()
        index = pa.Table.from_pydict(self._index, schema=AUDIO_INDEX_SCHEMA)
        meta = pa.Table.from_pydict(self._meta, schema=METADATA_SCHEMA)
        pq.write_table(index, self.dir / AUDIO_INDEX)
        pq.write_table(
            meta, self.dir / METADATA, row_group_size=self.row_group_size, write_page_checksum=self.page_checksums
        )
        durations = [d for d in self._meta["duration_s"] if d is not None]
        manifest = {
            "shard_id": self.shard_id,
            "language": self.lang,
            "num_segments": len(self._index["member"]),
            "total_duration_s": round(float(sum(durations)), 3),
            "total_audio_bytes": int(sum(self._index["nbytes"])),
            "files": {
                name: {"bytes": (self.dir / name).stat().st_size, "sha256": sha256_file(self.dir / name)}
                for name in (AUDIO_TAR, AUDIO_INDEX, METADATA)
            },
            "member_sha256": self._member_sha,
            **self.extra_manifest,
        }
        (self.dir / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        return self.dir

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._tar.close()
