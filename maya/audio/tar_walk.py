"""Walk a tar archive's headers without reading member payloads.

One ``pread`` of 512 bytes per member (plus the long-name blocks where GNU or PAX needs them), so
listing a 15,000-clip shard costs ~15,000 small reads instead of reading ~1 GB. Handles ustar
prefixes, GNU ``L`` long names, PAX ``x`` per-file and ``g`` global headers, base-256 sizes;
skips directories, links and other non-regular members. A damaged header (bad checksum, unreadable
size) is stepped over to the next valid header and reported (``damaged``); truncation stops the walk
and is reported with everything valid found before it. Either way nothing valid is lost.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

BLOCK = 512
_ZERO = b"\0" * BLOCK
_REGULAR = {b"0", b"\0", b"7"}
_SKIPPED = {
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "chardev",
    b"4": "blockdev",
    b"5": "directory",
    b"6": "fifo",
    b"S": "sparse",
    b"V": "volume",
    b"M": "multivolume",
}


class TarMember(NamedTuple):  # a tuple: 15,000 of them are made per shard
    name: str
    offset: int  # byte offset of the payload in the archive
    nbytes: int


@dataclass
class TarWalk:
    members: list[TarMember] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, kind)
    error: str | None = None  # why the walk stopped early; None = clean end of archive
    error_offset: int | None = None
    file_size: int = 0
    # Damaged stretches the walk stepped over to the next valid header: (start, resumed_at, why).
    damaged: list[tuple[int, int, str]] = field(default_factory=list)


def _nts(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(field_: bytes) -> int:
    if field_[:1] in (b"\x80", b"\xff"):  # GNU base-256 for sizes >= 8 GiB
        n = int.from_bytes(field_[1:], "big")
        return -((1 << (8 * (len(field_) - 1))) - n) if field_[:1] == b"\xff" else n
    s = field_.split(b"\0", 1)[0].strip(b" \0")
    return int(s, 8) if s else 0


def _checksum_ok(h: bytes) -> bool:
    try:
        stored = _number(h[148:156])
    except ValueError:  # not an octal number: not a tar header
        return False
    field_ = h[148:156]
    return stored == sum(h) - sum(field_) + 256  # the checksum field counts as 8 spaces


def _pax_records(data: bytes) -> dict[str, str]:
    out, pos = {}, 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        length = int(data[pos:sp])
        if length <= 0:
            break
        rec = data[sp + 1 : pos + length - 1]  # drop the trailing newline
        key, _, value = rec.partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def verify_claimed_layout(path: str | os.PathLike, offsets: Sequence[int]) -> TarWalk | None:
    """Check a claimed member layout (payload offsets, e.g. from audio_index.parquet) against the
    archive's own headers, all at once; returns the walk, or None to fall back to :func:`walk_tar`.

    The headers at ``offset - 512`` are gathered in one array and checked with numpy:
    valid checksum, regular-file type, short (in-header) name, and each member's padded end is the
    next member's header, the last one followed by the end-of-archive block. Anything unusual
    (long names, PAX records, directories, gaps, a single disagreement) returns None, so the
    answer is exactly what the sequential walk would give, about 5x faster on 15,000 members.
    """
    if not len(offsets):
        return None
    offs = np.unique(np.asarray(offsets, dtype=np.int64))  # sorted: claims may come in any order
    size = os.path.getsize(path)
    if offs[0] != BLOCK or np.any(offs < BLOCK) or np.any(offs > size):
        return None
    # pread, not mmap: page-fault-around would map (and count in RSS) most of a multi-GB shard.
    fd = os.open(path, os.O_RDONLY)
    try:
        starts = (offs - BLOCK).tolist()
        if hasattr(os, "posix_fadvise"):  # cold cache: let the disk fetch every header page at once
            for o in starts:
                os.posix_fadvise(fd, o, BLOCK, os.POSIX_FADV_WILLNEED)
        heads = np.frombuffer(b"".join([os.pread(fd, BLOCK, o) for o in starts]), dtype=np.uint8)
    finally:
        os.close(fd)
    if heads.size != len(offs) * BLOCK:
        return None
    heads = heads.reshape(len(offs), BLOCK)
    if not np.all(heads[:, 156] == ord("0")) or np.any(heads[:, 99] != 0):  # regular, short name
        return None
    digits = heads[:, 124:135].astype(np.int64) - ord("0")
    if np.any((digits < 0) | (digits > 7)):
        return None
    sizes = digits @ (8 ** np.arange(10, -1, -1, dtype=np.int64))
    cks_digits = heads[:, 148:154].astype(np.int64) - ord("0")
    if np.any((cks_digits < 0) | (cks_digits > 7)):
        return None
    stored = cks_digits @ (8 ** np.arange(5, -1, -1, dtype=np.int64))
    computed = heads.sum(axis=1, dtype=np.int64) - heads[:, 148:156].sum(axis=1, dtype=np.int64) + 256
    if np.any(stored != computed):
        return None
    ends = offs + (sizes + BLOCK - 1) // BLOCK * BLOCK
    if np.any(ends[:-1] + BLOCK != offs[1:]) or ends[-1] + BLOCK > size:
        return None
    with open(path, "rb") as f:
        f.seek(int(ends[-1]))
        if f.read(BLOCK) != _ZERO:
            return None
    raw = heads[:, :100].tobytes()
    lens = np.where(heads[:, :100].any(axis=1), (heads[:, :100] == 0).argmax(axis=1), 0).tolist()
    result = TarWalk(file_size=size)
    result.members = [
        TarMember(raw[i * 100 : i * 100 + n].decode("utf-8", "surrogateescape"), o, s)
        for i, (n, o, s) in enumerate(zip(lens, offs.tolist(), sizes.tolist(), strict=True))
    ]
    return result


def next_header(fd: int, start: int, size: int, chunk: int = 1 << 20) -> int | None:
    """Offset of the first 512-byte block at or after ``start`` (block-aligned) that is a valid tar
    header (``ustar`` magic and a correct checksum), or None. Reads ``chunk`` bytes at a time and
    checks the magic of every block at once, so stepping over a damaged multi-MB member is cheap."""
    pos = start
    while pos + BLOCK <= size:
        buf = os.pread(fd, min(chunk, size - pos) // BLOCK * BLOCK, pos)
        if len(buf) < BLOCK:
            return None
        blocks = np.frombuffer(buf, dtype=np.uint8).reshape(-1, BLOCK)
        magic = np.all(blocks[:, 257:262] == np.frombuffer(b"ustar", dtype=np.uint8), axis=1)
        for i in np.flatnonzero(magic).tolist():
            if _checksum_ok(buf[i * BLOCK : (i + 1) * BLOCK]):
                return pos + i * BLOCK
        pos += len(buf)
    return None


def walk_tar(path: str | os.PathLike, header_hints: Iterable[int] = ()) -> TarWalk:
    """List the regular members of the tar at ``path`` with their payload byte ranges.

    ``header_hints``: payload offsets believed to be in the archive (e.g. from the shard's
    audio_index.parquet). Their header pages are requested from the kernel up front
    (POSIX_FADV_WILLNEED), so on a cold cache the disk serves them in parallel instead of one
    synchronous read per member (15,000 clips: 1.2 s -> 0.3 s here). The walk itself still reads
    and verifies every header; a wrong hint costs nothing but a wasted prefetch.
    """
    result = TarWalk()
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            for off in header_hints:
                if off >= BLOCK:
                    os.posix_fadvise(fd, off - BLOCK, BLOCK, os.POSIX_FADV_WILLNEED)
        size = os.fstat(fd).st_size
        members = result.members
        result.file_size = size
        pos = 0
        long_name: str | None = None
        pax: dict[str, str] = {}
        global_pax: dict[str, str] = {}

        def resync(bad: int, why: str) -> bool:
            """After a damaged header, go on from the next valid one: one corrupt member must not
            cost every member after it (a file that is not a tar has none, and stays unreadable)."""
            nonlocal pos, long_name, pax
            nxt = next_header(fd, bad + BLOCK, size)
            if nxt is None:
                return False
            result.damaged.append((bad, nxt, why))
            pos, long_name, pax = nxt, None, {}
            return True

        while True:
            if pos + BLOCK > size:
                if pos < size or not result.members:
                    result.error = f"truncated tar: header at byte {pos} runs past the end ({size} bytes)"
                    result.error_offset = pos
                elif pos == size and size % BLOCK == 0:
                    pass  # archive without end-of-archive blocks: tolerated
                break
            h = os.pread(fd, BLOCK, pos)
            if h == _ZERO:
                break  # end-of-archive marker
            if not _checksum_ok(h):
                if resync(pos, "bad tar header checksum"):
                    continue
                result.error = f"bad tar header checksum at byte {pos} (not a tar, or corrupt)"
                result.error_offset = pos
                break
            typeflag = h[156:157]
            try:
                try:
                    nbytes = int(h[124:135], 8)  # the common case: 11 octal digits
                except ValueError:
                    nbytes = _number(h[124:136])  # base-256, NUL/space padding
            except ValueError:
                if resync(pos, "unreadable size field in the tar header"):
                    continue
                result.error = f"unreadable size field in the tar header at byte {pos}"
                result.error_offset = pos
                break
            data_off = pos + BLOCK
            padded = -(-nbytes // BLOCK) * BLOCK
            if data_off + nbytes > size:
                name = long_name or pax.get("path") or _nts(h[0:100])
                result.error = (
                    f"truncated tar: member {name!r} needs {nbytes} bytes at byte {data_off}"
                    f" but the file ends at {size}"
                )
                result.error_offset = pos
                break
            if typeflag == b"L":  # GNU long name for the next member
                long_name = _nts(os.pread(fd, nbytes, data_off))
            elif typeflag == b"x":
                pax = _pax_records(os.pread(fd, nbytes, data_off))
            elif typeflag == b"g":
                global_pax.update(_pax_records(os.pread(fd, nbytes, data_off)))
            elif typeflag == b"K":
                pass  # GNU long link name: only matters for links, which are skipped
            else:
                name = long_name or pax.get("path") or global_pax.get("path")
                if name is None:
                    name = _nts(h[0:100])
                    if h[257:262] == b"ustar":
                        prefix = _nts(h[345:500])
                        if prefix:
                            name = f"{prefix}/{name}"
                if "size" in pax:
                    nbytes = int(pax["size"])
                    padded = -(-nbytes // BLOCK) * BLOCK
                if typeflag in _REGULAR and not name.endswith("/"):
                    members.append(TarMember(name, data_off, nbytes))
                else:
                    result.skipped.append((name, _SKIPPED.get(typeflag, f"type {typeflag!r}")))
                long_name, pax = None, {}
            pos = data_off + padded
    finally:
        os.close(fd)
    return result
