"""JSON Lines from Arrow columns: what json.dumps of each row would say, for hostile strings too."""

import io
import json
import math

import pyarrow as pa
import pytest

from maya.jsonl import json_lines, write_lines
from maya.manifests import MANIFEST_SCHEMA, nemo_entry, nemo_lines

HOSTILE = [
    "plain",
    'quo"te',
    "back\\slash",
    "new\nline",
    "tab\t cr\r",
    "bell\x07 nul\x00 esc\x1b",
    "\u2028 sep",
    "नमस्ते",
    "",
    '{"json": [1]}',
    '\\"',
    "emoji 😀",
    None,
]


def _lines(arr) -> list[str]:
    buf = io.BytesIO()
    n = write_lines(arr, buf)
    assert n == len(buf.getvalue())
    text = buf.getvalue().decode("utf-8")
    assert text.endswith("\n") or not text
    return text.split("\n")[:-1]  # not splitlines(): U+2028 is no line end to a JSONL reader


def test_strings_numbers_and_nulls_round_trip():
    n = len(HOSTILE)
    cols = {
        "s": pa.array(HOSTILE),
        "i": pa.array(list(range(n - 1)) + [None], pa.int64()),
        "f": pa.array([0.5, 2.0, 1e-9, -3.25, float("nan"), float("inf")] + [1.0] * (n - 7) + [None]),
        "b": pa.array([True, False] * (n // 2) + [None] * (n % 2)),
        "d": pa.array(HOSTILE).dictionary_encode(),
        'quo"ted key': pa.array(["x"] * n),
    }
    got = [json.loads(line) for line in _lines(json_lines(cols))]
    assert len(got) == n
    for k, values in cols.items():
        for row, v in zip(got, values.to_pylist(), strict=True):
            if isinstance(v, float) and not math.isfinite(v):
                assert row[k] is None  # NaN and inf are not JSON
            else:
                assert row[k] == v
    assert list(got[0]) == list(cols)


def test_optional_members_only_where_present():
    lines = json_lines({"a": pa.array([1, 2])}, {"t": pa.array(["x", "y"])}, pa.array([True, False]))
    assert [json.loads(line) for line in _lines(lines)] == [{"a": 1, "t": "x"}, {"a": 2}]


def test_chunked_and_empty():
    chunked = pa.chunked_array([pa.array(["a\n"]), pa.array([], pa.string()), pa.array(["b\n"])])
    assert _lines(chunked) == ["a", "b"]
    assert _lines(pa.array([], pa.large_string())) == []


@pytest.mark.parametrize("tar_fields", [True, False])
def test_nemo_lines_equal_nemo_entry(tar_fields):
    rows = []
    for i, text in enumerate(HOSTILE):
        tarred = i % 3 != 0
        rows.append(
            {
                **dict.fromkeys(MANIFEST_SCHEMA.names),
                "corpus": "c",
                "shard_id": f"s{i}",
                "language": "hi",
                "segment_id": f'seg"{i}',
                "transcript": text,
                "duration_s": 1.23456 + i,
                "speaker_id": None if i % 2 else f"sp{i}",
                "audio_path": "/d/audio.tar" if tarred else f"rel/{i}.wav",
                "member": f"m{i}.flac" if tarred else None,
                "offset": 512 * i if tarred else None,
                "nbytes": 10 if tarred else None,
                "decoded_duration_s": [None, 0.0, 2.5][i % 3],
            }
        )
    t = pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)
    got = [json.loads(line) for line in _lines(nemo_lines(t, tar_fields=tar_fields))]
    assert got == [nemo_entry(r, tar_fields=tar_fields) for r in rows]
