"""Production scale: `make bench-scale` (or `python -m benchmarks.scale --help`).

**Stage-1 data layer** at the corpus' real size (default 3,551 shards x 15,000 = 53.3M clips):
a production-shaped train split (the build guide's language mix, 1-20 s clips, ~3.1 tokens per
second, i.e. ~0.25 tokens per encoder frame) goes through the real ``write_clip_table`` into the
memory-mapped clip table Stage 1 reads; then, each in a fresh process, the dataset is opened, the
sampler plans an epoch for rank 0 of 8 (rebalanced, triple cap, cost-sharded), and 6 DataLoader
workers decode 500 batches from real FLAC tars (every row points at one of a few real shards, so
the audio path is exercised). Today's code before the clip table (``benchmarks/baseline_stage1.py``:
Python lists + Python-loop sampler) runs on a prefix of the same split and is extrapolated
linearly to full size, because at 53M clips it needs more memory than this machine has.

Token ids at full size are synthetic (a vectorised stand-in for the tokenizer, one token per
character of a synthetic transcript); the real SentencePiece encoder's throughput is measured on
real native-script text and extrapolated, and the table says so.

Workers' memory is reported as PSS split in two: anonymous pages (heap, and parent pages a worker
copied on write: the per-worker cost the goal bounds) and file-backed pages (the memory-mapped
clip table: page cache shared by all 8 ranks and their workers, at most the file's size per node;
every random read maps 64 KiB around it, the kernel's fault-around, so this column is large).

Prints: step | clips | wall s | peak RSS | s per 1M clips | note, with the goals of issue 10.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.__main__ import PROD_SHARDS  # noqa: E402
from maya.entry import peak_rss_mb  # noqa: E402

LANGS = list(PROD_SHARDS)
EDGES = [0, 4, 8, 12, 16, 20]
TOKENS_PER_S = 3.1
WORLD = 8


# ---- synthetic production-shaped split ----------------------------------------------------
def real_shards(root: Path, shards: int = 4, clips: int = 200) -> list[dict]:
    """A few real shards of short FLAC clips; returns their audio index rows (path, member, offset, nbytes)."""
    import pyarrow.parquet as pq

    from maya.shard_writer import ShardWriter, encode_flac

    refs = []
    for s in range(shards):
        d = root / "lang=hi" / f"audio_{s}"
        if not (d / "manifest.json").exists():
            rng = np.random.default_rng(s)
            with ShardWriter(root, "hi", f"audio_{s}") as w:
                for i in range(clips):
                    n = int(rng.uniform(1.0, 4.0) * 16000)
                    audio = 0.1 * np.sin(np.arange(n) * rng.uniform(0.02, 0.1)) + 0.01 * rng.standard_normal(n)
                    w.add(
                        f"a{s}_{i:05d}",
                        encode_flac(audio.astype(np.float32), 16000),
                        transcript="x",
                        duration_s=n / 16000,
                    )
        idx = pq.read_table(d / "audio_index.parquet").to_pylist()
        refs += [{"audio_path": str(d / "audio.tar"), **r} for r in idx]
    return refs


def synth_split(path: Path, clips: int, refs: list[dict], chunk: int = 1 << 20, seed: int = 0) -> Path:
    """A train split Parquet with the real columns, written a chunk at a time (vectorised)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(path).metadata.num_rows == clips:
        return path
    share = np.array([PROD_SHARDS[x] for x in LANGS], dtype=float)
    share /= share.sum()
    ref_path = pa.array([r["audio_path"] for r in refs]).dictionary_encode()
    ref_member = pa.array([r["member"] for r in refs])
    ref_off = np.array([r["offset"] for r in refs])
    ref_nb = np.array([r["nbytes"] for r in refs])
    tmp = path.with_suffix(".tmp")
    writer = None
    for start in range(0, clips, chunk):
        n = min(chunk, clips - start)
        rng = np.random.default_rng([seed, start])
        lang = rng.choice(len(LANGS), size=n, p=share)
        dur = np.clip(rng.gamma(4.0, 2.0, n), 1.0, 20.0)
        ntok = np.maximum(1, rng.poisson(TOKENS_PER_S * dur))
        which = rng.integers(len(refs), size=n)
        ids = pc.binary_join_element_wise(
            pa.array(np.array(LANGS)[lang]), pa.array(np.arange(start, start + n)).cast(pa.string()), "_"
        )
        text = pa.StringArray.from_buffers(
            n,
            pa.py_buffer(np.concatenate([[0], np.cumsum(ntok)]).astype(np.int32)),
            pa.py_buffer(b"x" * int(ntok.sum())),
        )
        t = pa.table(
            {
                "segment_id": ids,
                "corpus": pa.array(["maya"] * n).dictionary_encode(),
                "language": pa.DictionaryArray.from_arrays(pa.array(lang.astype(np.int8)), pa.array(LANGS)),
                "audio_path": ref_path.take(pa.array(which)),
                "member": ref_member.take(pa.array(which)),
                "offset": ref_off[which],
                "nbytes": ref_nb[which],
                "duration_s": dur,
                "decoded_duration_s": dur,
                "text_norm": text,
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(tmp, t.schema)
        writer.write_table(t)
    writer.close()
    os.replace(tmp, path)
    return path


def synthetic_encoder(texts):
    """One token per character, ids spread over a 32K vocabulary: the tokenizer's output shape
    without its per-clip Python cost (measured separately)."""
    import pyarrow.compute as pc

    lens = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    return (np.arange(int(lens.sum()), dtype=np.int64) * 7919) % 32000, lens


# ---- measurements, each in a fresh process -------------------------------------------------
def pss_mb(pid: int | str = "self") -> dict[str, float]:
    """Proportional set size, in all and split into anonymous memory (heap, copied pages: what a
    worker really adds) and file-backed pages (the memory-mapped clip table and libraries: page
    cache shared by every rank and worker on the node, and reclaimable)."""
    out = {"Pss": 0.0, "Pss_Anon": 0.0, "Pss_File": 0.0}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key = line.split(":")[0]
        if key in out:
            out[key] = int(line.split()[1]) / 1024
    return out


def _factors(n_groups: int) -> list[float]:
    # Temperature-style factors: the small languages upsampled, English downsampled.
    return [float(x) for x in np.linspace(0.6, 3.0, n_groups)]


def child_new(args) -> dict:
    import torch

    from maya.batching import alignable
    from maya.clip_table import ClipTable
    from maya.stage1.data import ClipDataset, collate, release_free_memory
    from maya.stage1.sampler import BatchCaps, BucketingBatchSampler

    base = peak_rss_mb()
    t = time.perf_counter()
    table = ClipTable(args.table)
    ds = ClipDataset(table, LANGS)
    build = time.perf_counter() - t
    rss_build = peak_rss_mb()
    t = time.perf_counter()
    keep = alignable(table.duration_s, table.num_tokens, 8)
    s = BucketingBatchSampler(
        table.duration_s,
        table.num_tokens,
        table.group,
        _factors(len(table.groups)),
        EDGES,
        BatchCaps(120.0, 16, 400),
        seed=1,
        rank=0,
        world_size=WORLD,
        keep=keep,
    )
    stats = s.stats
    release_free_memory()  # what train() does before the DataLoader forks its workers
    plan = time.perf_counter() - t
    out = {
        "clips": len(table),
        "rss_base_mb": base,
        "build_s": build,
        "rss_build_mb": rss_build,
        "plan_s": plan,
        "rss_plan_mb": peak_rss_mb(),
        "planned_clips": stats["clips"],
        "batches_per_rank": stats["batches_per_rank"],
    }
    out.update(_workers(ds, s, collate, torch))
    return out


def child_old(args) -> dict:
    import pyarrow.parquet as pq
    import torch

    from benchmarks.baseline_stage1 import ListClipDataset, plan
    from maya.stage1.data import collate
    from maya.stage1.sampler import BatchCaps

    base = peak_rss_mb()
    t = time.perf_counter()
    ds = ListClipDataset(args.split, LANGS)
    tok = pq.read_table(args.split, columns=["corpus", "language", "text_norm"]).to_pydict()
    num_tokens = np.array([len(x) for x in tok["text_norm"]])
    groups = np.array([f"{c}/{lang}" for c, lang in zip(tok["corpus"], tok["language"], strict=True)])
    del tok
    build = time.perf_counter() - t
    rss_build = peak_rss_mb()
    t = time.perf_counter()
    dur = ds.durations
    names = sorted(set(groups.tolist()))
    factors = dict(zip(names, _factors(len(names)), strict=True))
    batches = plan(
        dur,
        num_tokens,
        groups,
        factors,
        np.array(EDGES, float),
        BatchCaps(120.0, 16, 400),
        1,
        0,
        0,
        WORLD,
        num_tokens <= np.ceil(dur / 0.01 / 8),
    )
    plan_s = time.perf_counter() - t
    out = {
        "clips": len(ds),
        "rss_base_mb": base,
        "build_s": build,
        "rss_build_mb": rss_build,
        "plan_s": plan_s,
        "rss_plan_mb": peak_rss_mb(),
        "batches_per_rank": len(batches),
    }
    out.update(_workers(ds, batches, collate, torch))
    return out


def _workers(ds, batch_sampler, collate, torch, workers: int = 6, batches: int = 500) -> dict:
    """PSS added by ``workers`` DataLoader workers decoding ``batches`` batches (main + workers)."""
    before = pss_mb()
    # Stop one batch short of the epoch's end: after the last one the workers exit, and with them their PSS.
    batches = min(batches, max(1, len(batch_sampler) - 1))
    dl = torch.utils.data.DataLoader(ds, batch_sampler=batch_sampler, collate_fn=collate, num_workers=workers)
    it = iter(dl)
    t = time.perf_counter()
    n = 0
    for _ in range(batches):
        try:
            next(it)
        except StopIteration:
            break
        n += 1
    wall = time.perf_counter() - t
    pids = [w.pid for w in it._workers]
    after = [pss_mb(), *(pss_mb(p) for p in pids)]
    added = {k: sum(a[k] for a in after) - before[k] for k in before}
    del it
    return {
        "worker_batches": n,
        "worker_s": wall,
        "workers_pss_added_mb": added["Pss"],
        "workers_anon_added_mb": added["Pss_Anon"],
        "workers_file_added_mb": added["Pss_File"],
    }


def child(kind: str, **kw) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.scale", "--child", kind] + [f"--{k}={v}" for k, v in kw.items()]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def tokenizer_rate(work: Path, sentences: int = 200_000) -> tuple[float, str]:
    """Real SentencePiece encoding (the batching rule's encoder) on native-script text: clips/s."""
    import pyarrow as pa

    from maya.clip_table import SentencePieceEncoder
    from maya.tokenizers import train_bpe

    text = []
    for lang in LANGS:
        p = REPO / "maya" / "data" / "demo_text" / f"{lang}.txt"
        if p.exists():
            text += [x for x in p.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")]
    tok_dir = work / "bpe"
    if not (tok_dir / "tokenizer.model").exists():
        train_bpe(text, tok_dir, 1024)
    enc = SentencePieceEncoder(tok_dir / "tokenizer.model")
    batch = pa.array((text * (sentences // len(text) + 1))[:sentences])
    t = time.perf_counter()
    enc(batch)
    return sentences / (
        time.perf_counter() - t
    ), f"{len(text):,} demo sentences, 1,024-piece BPE, {enc.threads} threads"


# ---- the table -------------------------------------------------------------------------------
def data_layer(rows: list, work: Path, clips: int, baseline_clips: int) -> None:
    from maya.clip_table import write_clip_table

    refs = real_shards(work / "audio")
    split = synth_split(work / f"train-{clips}.parquet", clips, refs)
    table = work / f"train_clips-{clips}.arrow"
    write_s = None  # reused from an earlier run
    if not table.exists():
        t = time.perf_counter()
        write_clip_table(split, table, synthetic_encoder, 32000)
        write_s = time.perf_counter() - t
    new = child("new", table=table)
    base = work / f"train-{baseline_clips}.parquet"
    synth_split(base, baseline_clips, refs)
    old = child("old", split=base)
    scale = clips / baseline_clips

    def grown(rss):  # today's memory is linear in clips above the interpreter's own
        return old["rss_base_mb"] + (rss - old["rss_base_mb"]) * scale

    rate, how = tokenizer_rate(work)
    m = clips / 1e6
    rows += [
        (
            "clip table write (real writer, synthetic ids)",
            clips,
            write_s,
            None,
            f"{(table.stat().st_size) / 2**30:.1f} GiB file" if write_s else "reused",
        ),
        ("  + real SentencePiece encoding (extrapolated)", clips, clips / rate, None, f"{rate:,.0f} clips/s on {how}"),
        ("dataset build: clip table (new)", clips, new["build_s"], new["rss_build_mb"], "goal <= 30 s"),
        (
            f"  today's lists, {baseline_clips / 1e6:g}M measured x{scale:.1f}",
            clips,
            old["build_s"] * scale,
            grown(old["rss_build_mb"]),
            f"{old['build_s'] * scale / max(new['build_s'], 1e-3):,.0f}x slower",
        ),
        (
            "epoch plan, rank 0 of 8 (new)",
            clips,
            new["plan_s"],
            new["rss_plan_mb"],
            f"{new['planned_clips']:,} clips rebalanced; goal <= 60 s, <= 4 GB",
        ),
        (
            f"  today's Python loops, {baseline_clips / 1e6:g}M measured x{scale:.1f}",
            clips,
            old["plan_s"] * scale,
            grown(old["rss_plan_mb"]),
            f"{old['plan_s'] * scale / new['plan_s']:.1f}x slower",
        ),
        (
            "6 workers x 500 batches: copied pages (new)",
            clips,
            new["worker_s"],
            new["workers_anon_added_mb"],
            "anonymous PSS added; goal <= 512 MiB",
        ),
        (
            "  + clip-table pages mapped by the workers",
            clips,
            None,
            new["workers_file_added_mb"],
            "file-backed PSS: the page cache every rank and worker shares, reclaimable",
        ),
        (
            f"  today's, at {baseline_clips / 1e6:g}M (not extrapolated)",
            baseline_clips,
            old["worker_s"],
            old["workers_anon_added_mb"],
            "anonymous PSS added (grows with the clips: refcounts touch the lists)",
        ),
    ]
    print(
        f"# data layer at {m:.1f}M clips: new {json.dumps(new)}\n# today's at {baseline_clips:,}: {json.dumps(old)}",
        flush=True,
    )


def print_table(rows: list) -> None:
    print(f"\n{'step':<52} {'clips':>12} {'wall s':>9} {'peak RSS':>10} {'s / 1M':>8}  note")
    for name, clips, wall, rss, note in rows:
        per_m = f"{wall / (clips / 1e6):.2f}" if wall and clips else ""
        rss_s = f"{rss / 1024:.2f} GiB" if rss is not None else ""
        print(f"{name:<52} {clips:>12,} {wall or 0:>9.1f} {rss_s:>10} {per_m:>8}  {note}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", type=int, default=sum(PROD_SHARDS.values()), help="shards in the simulated corpus")
    p.add_argument("--clips-per-shard", type=int, default=15000)
    p.add_argument("--baseline-clips", type=int, default=2_000_000, help="split prefix today's data layer runs on")
    p.add_argument(
        "--workdir", default=str(REPO / "results" / "bench-scale"), help="scratch space (reused; ~20 GB at full size)"
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--table", help=argparse.SUPPRESS)
    p.add_argument("--split", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps({"new": child_new, "old": child_old}[args.child](args)))
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    clips = args.shards * args.clips_per_shard
    rows: list = []
    data_layer(rows, work, clips, min(args.baseline_clips, clips))
    print_table(rows)


if __name__ == "__main__":
    main()
