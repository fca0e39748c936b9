"""JSON Lines from Arrow columns, without a Python object per row.

A NeMo manifest of a language is millions of lines; ``json.dumps`` per row (and the
``to_pylist`` dict it needs) costs ~10 us and ~1 KB of transient Python objects each. Here every
column becomes its JSON text with Arrow compute kernels (strings escaped, numbers cast, nulls as
``null``), the pieces are joined element-wise, and the result's one UTF-8 buffer is written as is.
``json.loads`` of each line gives what ``json.dumps`` of the row would have, up to number spelling
(``2`` for ``2.0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# JSON must escape the quote, the backslash and every control character below U+0020.
_NAMED_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_OTHER_CONTROL = [chr(c) for c in range(0x20) if chr(c) not in "\n\r\t"]
_OTHER_CONTROL_RE = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _OTHER_CONTROL) + "]"


def _join(*parts) -> pa.Array:
    """Element-wise concatenation of string arrays and literals (all as large_string)."""
    parts = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))


def json_string(values: pa.Array) -> pa.Array:
    """Each string as a JSON string literal (quoted, escaped); null stays null."""
    out = values.cast(pa.large_string()) if not pa.types.is_large_string(values.type) else values
    for raw, escaped in _NAMED_ESCAPES:
        out = pc.replace_substring(out, raw, escaped)
    if pc.any(pc.match_substring_regex(out, _OTHER_CONTROL_RE)).as_py():  # rare: one pass per character
        for c in _OTHER_CONTROL:
            out = pc.replace_substring(out, c, f"\\u{ord(c):04x}")
    return _join('"', out, '"')


def json_value(values: pa.Array) -> pa.Array:
    """JSON text of each value of a string, integer, float or boolean column; nulls as ``null``."""
    t = values.type
    if pa.types.is_dictionary(t):
        values, t = values.cast(t.value_type), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        text = json_string(values)
    elif pa.types.is_floating(t):
        # NaN and infinities are not JSON numbers: null, like a missing value.
        finite = pc.is_finite(values)
        text = pc.if_else(finite, pc.cast(values, pa.large_string()), pa.scalar(None, pa.large_string()))
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        text = pc.cast(values, pa.large_string())
    elif pa.types.is_null(t):
        text = pa.nulls(len(values), pa.large_string())
    else:
        raise TypeError(f"no JSON encoding for Arrow type {t}")
    return pc.fill_null(text.cast(pa.large_string()), "null")


def json_members(fields: Mapping[str, pa.Array | pa.ChunkedArray]) -> pa.Array:
    """Per row, the object's members ``"key": value, ...`` (no braces), keys in ``fields``' order."""
    pieces: list = []
    for i, (key, values) in enumerate(fields.items()):
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        pieces += [("" if i == 0 else ", ") + json_string(pa.array([key])).to_pylist()[0] + ": ", json_value(values)]
    return _join(*pieces)


def json_lines(
    fields: Mapping[str, pa.Array | pa.ChunkedArray],
    optional: Mapping[str, pa.Array | pa.ChunkedArray] | None = None,
    present: pa.Array | None = None,
) -> pa.Array:
    """One JSON object per row, each line ending in a newline; the ``optional`` members follow
    only on rows where ``present`` is true."""
    body = json_members(fields)
    if optional:
        tail = _join(", ", json_members(optional))
        body = _join(body, pc.if_else(present, tail, pa.scalar("", pa.large_string())))
    return _join("{", body, "}\n")


def write_lines(lines: pa.Array | pa.ChunkedArray, f: BinaryIO) -> int:
    """Write the lines' bytes (already newline-terminated) to a binary file; returns bytes written."""
    chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
    written = 0
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        chunk = chunk.cast(pa.large_string())
        off = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        data = memoryview(chunk.buffers()[2])[int(off[0]) : int(off[-1])]
        f.write(data)
        written += len(data)
    return written
