"""Names that come from data (shard directories, tar members, segment ids) and what may be done
with them: one place that decides whether a name can become a path or a Snakemake wildcard.

A corpus export is not trusted: a member named ``../../x.flac`` or a segment id ``/etc/x`` must
never become a path outside the folder a writer owns, and a shard directory named ``a{b}`` or with
bytes that are not UTF-8 cannot travel through Snakemake's wildcards at all.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NAME_MAX = 255  # bytes in one file name (ext4, xfs)
LONGEST_SUFFIX = ".quarantine.parquet"  # the longest per-shard output name: results/qc/.../{shard}.quarantine.parquet


def printable(name: str) -> str:
    """``name`` as one printable line: undecodable bytes as ``\\xNN``, control characters escaped."""
    raw = os.fsencode(name) if isinstance(name, str) else bytes(name)
    text = raw.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def unsafe_name(name: str | None) -> str | None:
    """Why a member name or segment id cannot be used as a relative path, or None if it can."""
    if name is None:
        return None
    if not name:
        return "is empty"
    if _CONTROL.search(name):
        return "contains a control character"
    if "\\" in name:
        return "contains a backslash"
    p = PurePosixPath(name)
    if p.is_absolute():
        return "is an absolute path"
    if ".." in p.parts:
        return "contains a '..' component"
    return None


def wildcard_problem(name: str) -> str | None:
    """Why a shard directory name cannot be a Snakemake wildcard value, or None if it can.

    Snakemake formats paths with ``{...}`` (braces in a value become wildcards), stores file names
    as UTF-8 (undecodable bytes raise ``UnicodeEncodeError``), and a newline breaks its shell
    commands and logs. Hidden directories are partial copies or tool state, never shards.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not valid UTF-8"
    if "{" in name or "}" in name:
        return "name contains '{' or '}' (Snakemake wildcard syntax)"
    if _CONTROL.search(name):
        return "name contains a control character (newline, tab, ...)"
    if name.startswith("."):
        return "hidden directory (name starts with '.')"
    if name != name.strip():
        return "name starts or ends with whitespace"
    if len(name.encode("utf-8")) + len(LONGEST_SUFFIX) > NAME_MAX:
        n = len(name.encode("utf-8"))
        return f"name is {n} bytes: with '{LONGEST_SUFFIX}' it exceeds the {NAME_MAX}-byte file name limit"
    return None


def safe_join(folder: str | os.PathLike, *parts: str) -> str:
    """``folder/parts...``, refusing (ValueError) any part that would leave ``folder``."""
    for part in parts:
        why = unsafe_name(part)
        if why:
            raise ValueError(f"refusing to write {printable(part)!r} under {folder}: it {why}")
    return os.path.join(folder, *parts)
