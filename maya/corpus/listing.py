"""Shard discovery for corpora in the ``final_export`` layout (``lang={code}/{shard_id}/``)."""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from maya.errors import MayaError
from maya.names import printable, wildcard_problem
from maya.shard_schema import LANG_DIR_PREFIX

LISTING_COLUMNS = ("lang", "shard_id")


def scan_shard_dirs(root: str | Path, languages: Sequence[str]) -> tuple[list[tuple[str, str]], list[dict]]:
    """(shards, skipped): (lang, shard_id) of every usable shard directory under ``root`` for
    ``languages``, sorted, and the directories whose names cannot be shard ids (see
    :func:`maya.names.wildcard_problem`), each as {language, directory, reason}.

    Only directory names are read (a cheap scandir per language), so this is safe at DAG-build
    time over 3,551 shards. Validity of a shard's files is QC's job, not discovery's.
    """
    root = Path(root)
    if not root.is_dir():
        raise MayaError(f"corpus root {root} does not exist or is not a directory")
    found: list[tuple[str, str]] = []
    skipped: list[dict] = []
    for lang in languages:
        lang_dir = root / f"{LANG_DIR_PREFIX}{lang}"

        def skip(name: str | None, reason: str, lang=lang, lang_dir=lang_dir) -> None:
            where = lang_dir if name is None else lang_dir / printable(name)
            skipped.append({"language": lang, "directory": str(where), "reason": reason})

        # Any filesystem error is a fact about this directory, never a reason to stop planning the
        # other shards: loops, dangling links, a file where a directory belongs, no permission.
        try:
            if not os.path.lexists(lang_dir):
                continue  # the corpus has no such language
            if not stat.S_ISDIR(os.stat(lang_dir).st_mode):
                skip(None, "language directory is a file, not a directory")
                continue
            real_lang_dir = os.path.realpath(lang_dir)
            with os.scandir(lang_dir) as it:
                entries = list(it)
        except OSError as e:
            skip(None, f"language directory unreadable: {os_error(e)}")
            continue
        for e in entries:
            try:
                if e.is_symlink() and _loops(e.path, real_lang_dir):
                    skip(e.name, "symbolic link to its own language directory or above (a loop)")
                    continue
                is_dir = e.is_dir()
            except OSError as err:
                skip(e.name, f"cannot be read: {os_error(err)}")
                continue
            if not is_dir:
                if e.is_symlink():  # a dangling link is a shard that went missing, not a stray file
                    skip(e.name, "symbolic link to nothing")
                continue
            why = wildcard_problem(e.name)
            if why:
                skip(e.name, why)
            else:
                found.append((lang, e.name))
    return sorted(found), sorted(skipped, key=lambda s: (s["language"], s["directory"]))


def os_error(e: OSError) -> str:
    """``ELOOP (Too many levels of symbolic links): /path``: the errno's name, its text and the path."""
    name = errno.errorcode.get(e.errno or 0, f"errno {e.errno}")
    where = f": {printable(os.fsdecode(e.filename))}" if e.filename is not None else ""
    return f"{name} ({e.strerror or e}){where}"


def _loops(link: str, real_lang_dir: str) -> bool:
    """Whether a link under a language directory points back to that directory or above it."""
    target = os.path.realpath(link)
    return real_lang_dir == target or real_lang_dir.startswith(target.rstrip(os.sep) + os.sep)


def discover_shards(root: str | Path, languages: Sequence[str]) -> list[tuple[str, str]]:
    """(lang, shard_id) of every usable shard directory (see :func:`scan_shard_dirs`)."""
    return scan_shard_dirs(root, languages)[0]


def listing_digest(shards: Sequence[tuple[str, str]], skipped: Sequence[dict] = ()) -> str:
    """Short hash of a shard listing: changes when a shard appears, disappears or is renamed."""
    h = hashlib.sha256()
    for lang, shard in shards:
        h.update(f"{lang}/{shard}\n".encode())
    for s in skipped:
        h.update(f"skipped {s['directory']}\n".encode())
    return f"{len(shards)}-{h.hexdigest()[:12]}"


def write_listing(path: str | Path, shards: Iterable[tuple[str, str]]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(LISTING_COLUMNS)
        for row in shards:
            w.writerow(row)
            n += 1
    return n


def read_listing(path: str | Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f, delimiter="\t")
        header = next(r, None)
        if tuple(header or ()) != LISTING_COLUMNS:
            raise MayaError(f"{path}: not a shard listing (header {header!r})")
        return [(lang, shard) for lang, shard in r]
