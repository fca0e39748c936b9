"""Streaming a Parquet file batch by batch in memory that does not grow with the file.

``pq.ParquetFile`` pre-buffers by default (pyarrow 26): its read cache keeps every column chunk
already read until iteration ends, so ``iter_batches`` over a string column ends up holding the
whole column. Measured on the 53M-clip train split: 7.7 MB more Arrow memory per 65K-row batch
of ``text_norm`` (lhotse_inputs reached 6 GB and was climbing); without pre-buffering, 21 MB flat.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def open_parquet(path: str | Path) -> pq.ParquetFile:
    """A ``ParquetFile`` whose ``iter_batches`` holds one batch at a time."""
    return pq.ParquetFile(path, pre_buffer=False)


def iter_batches(path: str | Path, batch_size: int, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
    yield from open_parquet(path).iter_batches(batch_size=batch_size, columns=columns)
