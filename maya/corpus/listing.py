"""Shard discovery for corpora in the ``final_export`` layout (``lang={code}/{shard_id}/``)."""

from __future__ import annotations

import csv
import hashlib
import os
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
        if not lang_dir.is_dir():
            continue
        with os.scandir(lang_dir) as it:
            for e in it:
                if not e.is_dir():
                    if e.is_symlink():  # a dangling link is a shard that went missing, not a stray file
                        skipped.append(
                            {
                                "language": lang,
                                "directory": str(lang_dir / printable(e.name)),
                                "reason": "symbolic link to nothing",
                            }
                        )
                    continue
                why = wildcard_problem(e.name)
                if why:
                    skipped.append({"language": lang, "directory": str(lang_dir / printable(e.name)), "reason": why})
                else:
                    found.append((lang, e.name))
    return sorted(found), sorted(skipped, key=lambda s: (s["language"], s["directory"]))


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
