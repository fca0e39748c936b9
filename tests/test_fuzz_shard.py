"""A seeded mutation fuzzer for shard indexing: a valid 12-clip shard is damaged at random (bytes
flipped or cut in tar payloads and headers, Parquet pages and footers, JSON structure mutated with
deep nesting, wrong types and huge strings, pairings swapped, special files and links put where
files belong), and for every mutation indexing must not raise, the counts must reconcile, every
clip must be kept or quarantined with a reason, every clip whose own bytes and rows were untouched
must be kept, and no kept clip may carry another clip's audio.

Bounded in time: ``MAYA_FUZZ_SECONDS`` (default 15, about 500 mutations) and ``MAYA_FUZZ_SEED``
(default: random, printed; a failure names the seed and the mutation, so
``MAYA_FUZZ_SEED=... pytest tests/test_fuzz_shard.py`` replays it)."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from maya.audio.tar_walk import walk_tar
from maya.corpus.demo import load_sentences
from maya.qc import QCSettings, index_shard
from maya.shard_schema import AUDIO_INDEX, AUDIO_TAR, MANIFEST, METADATA
from maya.shard_writer import ShardWriter, encode_flac

CLIPS, ROWS_PER_GROUP = 12, 4
ALL = "all"  # the mutation may cost every clip (a required file is gone)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """One valid shard (3 metadata row groups with page checksums) and what each clip is."""
    root = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    sentences = [s.text for s in load_sentences("hi")][:CLIPS]
    with ShardWriter(root, "hi", "pristine", row_group_size=ROWS_PER_GROUP, page_checksums=True) as w:
        for i, text in enumerate(sentences):
            seconds = 3.0  # one length: a swapped pairing must be caught by the pairing check, not by duration
            t = np.arange(int(16000 * seconds)) / 16000
            audio = (0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.01 * rng.standard_normal(t.size)).astype(
                np.float32
            )
            w.add(f"seg{i:02d}", encode_flac(audio, 16000), transcript=text, duration_s=seconds, speaker_id=f"s{i % 3}")
    d = root / "lang=hi" / "pristine"
    result = index_shard("final_export", "fuzz", str(root), "hi", "pristine", {}, QCSettings())
    rows = result.index.to_pylist()
    assert result.report["clips_kept"] == CLIPS, result.report  # the starting point is clean
    originals = {r["segment_id"]: r for r in rows}
    members = {m.name: m for m in walk_tar(d / AUDIO_TAR).members}
    return d, originals, members


# ---- mutators: each damages the shard copy in `d` and returns the segment ids it may cost -------------
def _seg(member: str) -> str:
    return member.removesuffix(".flac")


def _flip(path: Path, lo: int, hi: int, rng: random.Random, n: int = 3) -> None:
    data = bytearray(path.read_bytes())
    for _ in range(n):
        i = rng.randrange(lo, hi)
        data[i] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))


def flip_payload(d, rng, info):
    m = rng.choice(list(info["members"].values()))
    _flip(d / AUDIO_TAR, m.offset, m.offset + m.nbytes, rng)
    return {_seg(m.name)}


def flip_header(d, rng, info):
    m = rng.choice(list(info["members"].values()))
    _flip(d / AUDIO_TAR, m.offset - 512, m.offset, rng, n=1)
    return {_seg(m.name)}


def rename_member(d, rng, info):
    """A header rewritten with a valid checksum and another name: unsafe, a neighbour's, or new."""
    m = rng.choice(list(info["members"].values()))
    other = rng.choice(list(info["members"]))
    name = rng.choice(["../../escape.flac", "/etc/x.flac", other, "renamed.flac", "a\\b.flac"])
    data = bytearray((d / AUDIO_TAR).read_bytes())
    h = m.offset - 512
    data[h : h + 100] = name.encode().ljust(100, b"\0")[:100]
    data[h + 148 : h + 156] = b" " * 8
    data[h + 148 : h + 156] = b"%06o\0 " % sum(data[h : h + 512])
    (d / AUDIO_TAR).write_bytes(bytes(data))
    return {_seg(m.name), _seg(other)}


def truncate_tar(d, rng, info):
    size = (d / AUDIO_TAR).stat().st_size
    cut = rng.randrange(0, size)
    os.truncate(d / AUDIO_TAR, cut)
    return {_seg(m.name) for m in info["members"].values() if m.offset + m.nbytes > cut} or set()


def flip_row_group(d, rng, info):
    md = pq.read_metadata(d / METADATA)
    g = rng.randrange(md.num_row_groups)
    cols = [md.row_group(g).column(j) for j in range(md.num_columns)]
    lo = min(c.dictionary_page_offset or c.data_page_offset for c in cols)
    hi = max((c.dictionary_page_offset or c.data_page_offset) + c.total_compressed_size for c in cols)
    _flip(d / METADATA, lo, hi, rng, n=rng.randint(1, 4))
    return {f"seg{i:02d}" for i in range(g * ROWS_PER_GROUP, (g + 1) * ROWS_PER_GROUP)}


def break_metadata_file(d, rng, info):
    path = d / METADATA
    size = path.stat().st_size
    how = rng.choice(["truncate", "footer", "empty", "dir", "fifo", "loop", "devzero"])
    if how == "truncate":
        os.truncate(path, rng.randrange(0, size))
    elif how == "footer":
        _flip(path, size - 64, size, rng)
    else:
        _replace_with_special(path, how)
    return ALL


def _replace_with_special(path: Path, how: str) -> None:
    path.unlink()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "dir":
        path.mkdir()
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "loop":
        path.symlink_to(path.name)
    elif how == "devzero":
        path.symlink_to("/dev/zero")


def damage_index(d, rng, info):
    """audio_index.parquet is optional: any damage to it alone costs no clip."""
    path = d / AUDIO_INDEX
    how = rng.choice(["flip", "truncate", "delete", "dir", "fifo", "loop", "devzero", "wrong_types"])
    if how == "flip":
        _flip(path, 0, path.stat().st_size, rng, n=rng.randint(1, 8))
    elif how == "truncate":
        os.truncate(path, rng.randrange(0, path.stat().st_size))
    elif how == "delete":
        path.unlink()
    elif how == "wrong_types":
        t = pq.read_table(path)
        pq.write_table(
            t.set_column(2, "offset", pa.array([str(x) + "x" for x in t.column("offset").to_pylist()])), path
        )
    else:
        _replace_with_special(path, how)
    return set()


def swap_pairings(d, rng, info):
    """The index pairs A with B's member (and maybe B with A's): a contradiction, never a guess."""
    t = pq.read_table(d / AUDIO_INDEX).to_pylist()
    a, b = rng.sample(range(len(t)), 2)
    both = rng.random() < 0.5
    ma, mb = dict(t[a]), dict(t[b])
    t[a].update(member=mb["member"], offset=mb["offset"], nbytes=mb["nbytes"])
    if both:
        t[b].update(member=ma["member"], offset=ma["offset"], nbytes=ma["nbytes"])
    pq.write_table(pa.Table.from_pylist(t, schema=pq.read_schema(d / AUDIO_INDEX)), d / AUDIO_INDEX)
    return {ma["segment_id"], mb["segment_id"]}


def _json_mutate(node, rng, depth=0):
    """One structural mutation somewhere in a parsed JSON document."""
    if isinstance(node, dict) and node and (depth == 0 or rng.random() < 0.7):
        key = rng.choice(list(node))
        if rng.random() < 0.6:
            node[key] = _json_mutate(node[key], rng, depth + 1)
        else:
            del node[key]
        return node
    return rng.choice(
        [
            lambda: "DEEP",  # replaced by 100,000 nested arrays when the text is written
            lambda: 12345,
            lambda: None,
            lambda: [node],
            lambda: "x" * rng.choice([1, 1_000_000]),
            lambda: {"\ud800": 1},
            lambda: True,
            lambda: -1.5e308,
        ]
    )()


def mutate_manifest(d, rng, info):
    path = d / MANIFEST
    doc = json.loads(path.read_text())
    before = dict(doc["member_sha256"])
    how = rng.choice(["structure", "structure", "deep", "truncate", "not_utf8", "top_array", "huge", "special"])
    if how == "structure":
        doc = _json_mutate(doc, rng)
        text = json.dumps(doc).replace('"DEEP"', "[" * 100_000 + "]" * 100_000)
        path.write_text(text)
    elif how == "deep":
        path.write_text('{"member_sha256": ' + "[" * 200_000 + "]" * 200_000 + "}")
    elif how == "truncate":
        os.truncate(path, rng.randrange(0, path.stat().st_size))
    elif how == "not_utf8":
        path.write_bytes(b"\xff\xfe" + path.read_bytes())
    elif how == "top_array":
        path.write_text(json.dumps([doc]))
    elif how == "huge":
        with open(path, "ab") as f:
            f.truncate(65 << 20)  # sparse: over the reader's bound without writing it
    else:
        _replace_with_special(path, rng.choice(["dir", "fifo", "loop", "devzero"]))
    try:
        if not path.is_file() or path.stat().st_size > 64 << 20:
            return set()
        after = json.loads(path.read_text()).get("member_sha256")
    except Exception:
        return set()
    if not isinstance(after, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in after.items()):
        return set()  # the field is ignored as a whole
    return {_seg(m) for m, sha in before.items() if after.get(m, sha) != sha}


def junk_entries(d, rng, info):
    """Links, loops and special files beside the shard's own files cost nothing."""
    (d / "loop").symlink_to("loop")
    (d / "up").symlink_to("..")
    os.mkfifo(d / "pipe")
    (d / "dev").symlink_to("/dev/zero")
    return set()


def replace_tar(d, rng, info):
    _replace_with_special(d / AUDIO_TAR, rng.choice(["empty", "dir", "fifo", "loop", "devzero"]))
    return ALL


MUTATORS = [
    flip_payload,
    flip_header,
    rename_member,
    truncate_tar,
    flip_row_group,
    break_metadata_file,
    damage_index,
    swap_pairings,
    mutate_manifest,
    junk_entries,
    replace_tar,
]


def check(result, originals, touched) -> None:
    rep = result.report
    assert rep["clips_in"] == rep["clips_kept"] + sum(rep["quarantined_by_reason"].values()), rep
    rows = result.index.to_pylist()
    assert len(rows) == rep["clips_in"]
    for r in rows:
        assert r["qc_reason"] is None or r["qc_detail"], r  # every quarantined clip says why
    kept = {}
    for r in rows:
        if r["qc_reason"] is None:
            assert r["segment_id"] not in kept, f"{r['segment_id']} kept twice"
            kept[r["segment_id"]] = r
    for seg, r in kept.items():  # no kept clip carries another clip's audio
        if seg in originals:
            assert r["audio_sha256"] == originals[seg]["audio_sha256"], f"{seg} kept with another clip's audio"
    if touched == ALL:
        return
    for seg, orig in originals.items():
        if seg in touched:
            continue
        assert seg in kept, f"{seg} was untouched but not kept: " + next(
            (f"{r['qc_reason']}: {r['qc_detail']}" for r in rows if r["segment_id"] == seg), "no row at all"
        )
        assert (kept[seg]["transcript"], kept[seg]["member"]) == (orig["transcript"], orig["member"])


def test_mutated_shards_never_raise_lose_or_mislabel_a_clip(pristine, tmp_path):
    src, originals, members = pristine
    seed = int(os.environ.get("MAYA_FUZZ_SEED", random.randrange(1 << 30)))
    seconds = float(os.environ.get("MAYA_FUZZ_SECONDS", 15))
    rng = random.Random(seed)
    print(f"fuzz seed {seed} (replay: MAYA_FUZZ_SEED={seed}), {seconds:.0f} s")
    counts: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        mutator = MUTATORS[n % len(MUTATORS)] if n < len(MUTATORS) else rng.choice(MUTATORS)
        name = f"m{n:05d}"
        d = tmp_path / "lang=hi" / name
        shutil.copytree(src, d, symlinks=True)
        touched = mutator(d, rng, {"members": members})
        try:
            result = index_shard("final_export", "fuzz", str(tmp_path), "hi", name, {}, QCSettings())
            check(result, originals, touched)
        except Exception as e:
            raise AssertionError(
                f"MAYA_FUZZ_SEED={seed}: mutation #{n} ({mutator.__name__}, may cost {touched}): "
                f"{type(e).__name__}: {e}"
            ) from e
        counts[mutator.__name__] = counts.get(mutator.__name__, 0) + 1
        shutil.rmtree(d)
        n += 1
    print(f"{n} mutations: {counts}")
    assert n >= len(MUTATORS), f"only {n} mutations in {seconds} s"
