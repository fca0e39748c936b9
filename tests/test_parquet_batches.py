"""Streaming Parquet: Arrow memory stays at about one batch, whatever the file's size."""

import random

import pyarrow as pa
import pyarrow.parquet as pq

from maya.parquet_batches import iter_batches, open_parquet


def _file(path, row_groups=40, rows=20_000):
    with pq.ParquetWriter(path, pa.schema([("text", pa.string())])) as w:
        rng = random.Random(0)  # incompressible 100-byte texts: what is cached is the compressed chunk
        for _ in range(row_groups):
            w.write_table(pa.table({"text": [rng.randbytes(50).hex() for _ in range(rows)]}))
    return path


def _peak_while_iterating(batches) -> int:
    base, peak, rows = pa.total_allocated_bytes(), 0, 0
    for b in batches:
        rows += b.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
    return peak, rows


def test_iter_batches_holds_about_one_batch(tmp_path):
    path = _file(tmp_path / "t.parquet")  # ~80 MB of text in 40 row groups
    peak, rows = _peak_while_iterating(iter_batches(path, 20_000, ["text"]))
    assert rows == 800_000
    assert peak < 16 * 2**20, peak  # one 2 MB batch plus decoding buffers
    # What it replaces: the default ParquetFile pre-buffers and keeps every chunk it has read.
    default, _ = _peak_while_iterating(pq.ParquetFile(path).iter_batches(batch_size=20_000, columns=["text"]))
    assert default > 4 * peak
    assert open_parquet(path).metadata.num_rows == 800_000
