"""walk_tar agrees with tarfile on every header flavour and stops cleanly on damage."""

import io
import os
import tarfile

import pytest

from maya.audio.tar_walk import walk_tar


def make_tar(path, fmt, names, with_dir=True, with_link=True):
    with tarfile.open(path, "w", format=fmt) as t:
        if with_dir:
            d = tarfile.TarInfo("sub")
            d.type = tarfile.DIRTYPE
            t.addfile(d)
        for i, n in enumerate(names):
            b = os.urandom(100 + 613 * i)
            ti = tarfile.TarInfo(n)
            ti.size = len(b)
            t.addfile(ti, io.BytesIO(b))
        if with_link:
            ln = tarfile.TarInfo("link.flac")
            ln.type = tarfile.SYMTYPE
            ln.linkname = names[0]
            t.addfile(ln)
    return path


def reference(path):
    with tarfile.open(path) as t:
        return [(m.name, m.offset_data, m.size) for m in t.getmembers() if m.isfile()]


LONG = "x" * 150 + ".flac"
NAMES = ["a.flac", "sub/b c.flac", "ünï©ødé.flac", "e" * 99 + ".flac"]


@pytest.mark.parametrize(
    "fmt, names",
    [
        (tarfile.GNU_FORMAT, NAMES + [LONG]),
        (tarfile.PAX_FORMAT, NAMES + [LONG]),
        (tarfile.USTAR_FORMAT, NAMES[:2] + ["p" * 80 + "/" + "q" * 90 + ".flac"]),
    ],
)
def test_matches_tarfile(tmp_path, fmt, names):
    path = make_tar(tmp_path / "t.tar", fmt, names)
    w = walk_tar(path)
    assert w.error is None
    assert [(m.name, m.offset, m.nbytes) for m in w.members] == reference(path)
    assert {kind for _, kind in w.skipped} == {"directory", "symlink"}


def test_truncated_archive_keeps_members_before_the_cut(tmp_path):
    path = make_tar(tmp_path / "t.tar", tarfile.GNU_FORMAT, NAMES, with_dir=False, with_link=False)
    ref = reference(path)
    os.truncate(path, ref[2][1] + 10)  # inside the third member's payload
    w = walk_tar(path)
    assert [(m.name, m.offset, m.nbytes) for m in w.members] == ref[:2]
    assert "truncated tar" in w.error and NAMES[2] in w.error


def test_garbage_is_reported_not_raised(tmp_path):
    path = tmp_path / "g.tar"
    path.write_bytes(os.urandom(5000))
    w = walk_tar(path)
    assert w.members == [] and "checksum" in w.error


def test_empty_and_tiny_files(tmp_path):
    (tmp_path / "e.tar").write_bytes(b"")
    assert walk_tar(tmp_path / "e.tar").error is not None
    (tmp_path / "z.tar").write_bytes(b"\0" * 1024)
    w = walk_tar(tmp_path / "z.tar")
    assert w.members == [] and w.error is None


def test_reads_only_headers(tmp_path, monkeypatch):
    # Short names: long ones legitimately cost one more read for the GNU name block.
    path = make_tar(tmp_path / "t.tar", tarfile.GNU_FORMAT, NAMES[:3], with_dir=False, with_link=False)
    sizes = []
    real = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: sizes.append(n) or real(fd, n, off))
    walk_tar(path)
    assert sizes and set(sizes) == {512}


def test_claimed_layout_verification_matches_the_walk_and_rejects_bad_claims(tmp_path):
    from maya.audio.tar_walk import verify_claimed_layout

    path = make_tar(tmp_path / "t.tar", tarfile.GNU_FORMAT, NAMES[:3], with_dir=False, with_link=False)
    walk = walk_tar(path)
    offsets = [m.offset for m in walk.members]
    fast = verify_claimed_layout(path, offsets[::-1])  # any order
    assert fast is not None and fast.members == walk.members
    assert verify_claimed_layout(path, offsets[:-1]) is None  # a member missing from the claim
    assert verify_claimed_layout(path, [offsets[0], offsets[1] + 512, offsets[2]]) is None
    assert verify_claimed_layout(path, []) is None
    # Long names need the sequential walk: the fast path declines rather than guesses.
    long_path = make_tar(tmp_path / "l.tar", tarfile.GNU_FORMAT, [LONG], with_dir=False, with_link=False)
    assert verify_claimed_layout(long_path, [m.offset for m in walk_tar(long_path).members]) is None
    # A corrupted header byte fails the checksum.
    raw = bytearray(path.read_bytes())
    raw[offsets[1] - 512 + 5] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert verify_claimed_layout(path, offsets) is None
