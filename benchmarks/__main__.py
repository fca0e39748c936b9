"""Benchmarks: `make bench` (or `python -m benchmarks --help`; `--only-loss` for the Stage-1 ones).

0. Stage 1: our vectorised CPU TDT loss vs NeMo's tdt_pytorch reference (forward + backward), and
   the DDP sampler's step time (slowest rank / mean) vs dealing the same batches round-robin.

1. Index build on a 15,000-clip shard: our tar header walk (+ metadata join) vs GNU `tar -tvf`.
2. Random-order read + decode: TarOffsetReader vs decoding the same bytes already in memory, and
   vs tarfile.extractfile. Page cache is warm for all three (the shard is read once beforehand).
3. Peak RSS of indexing + QC of that shard (the index_shard entry point, in a child process).
4. `snakemake -n` at 3,551 shards (the build guide's per-language counts) vs a bare Snakefile
   with the same per-shard jobs and one aggregate.
5. qc_summary's cross-shard duplicate scan (maya.dedup) on production-shaped shard indexes (15,000
   clips each, 0.1 % planted copies) at two fractions of 3,551 shards, extrapolated to 53M clips,
   vs the obvious Python-set loop over every clip (`--only-dedup`).
Prints one table with the ratios against each goal.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from maya.adapters import adapter_for  # noqa: E402
from maya.audio.reader import AudioRef, TarOffsetReader, decode_bytes  # noqa: E402
from maya.audio.tar_walk import walk_tar  # noqa: E402
from maya.shard_writer import ShardWriter, encode_flac  # noqa: E402

# Build guide 2.3: shards per language in the final-export corpus (3,551 in all).
PROD_SHARDS = {
    "en": 840,
    "hi": 475,
    "te": 400,
    "ml": 372,
    "pa": 343,
    "ta": 312,
    "kn": 200,
    "gu": 186,
    "bn": 158,
    "mr": 148,
    "or": 78,
    "as": 39,
}


def make_big_shard(root: Path, clips: int, seed: int = 0) -> Path:
    """A shard of `clips` short FLAC clips (0.5-2 s of tone + noise), like the real ~15,000."""
    d = root / "lang=hi" / "bench_shard"
    if (d / "manifest.json").exists() and json.loads((d / "manifest.json").read_text())["num_segments"] == clips:
        return d
    shutil.rmtree(d, ignore_errors=True)
    rng = np.random.default_rng(seed)
    with ShardWriter(root, "hi", "bench_shard") as w:
        for i in range(clips):
            n = int(rng.uniform(0.5, 2.0) * 16000)
            t = np.arange(n) / 16000
            audio = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.02 * rng.standard_normal(n)
            w.add(
                f"clip_{i:06d}",
                encode_flac(audio.astype(np.float32), 16000),
                transcript="नमस्ते दुनिया",
                duration_s=n / 16000,
                speaker_id=f"s{i % 50}",
                sample_rate=16000,
            )
    return d


def timed(fn, repeat: int = 3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache (no root needed): a cold-cache run."""
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def bench_index(shard: Path, rows: list):
    tar = shard / "audio.tar"
    n = len(walk_tar(tar).members)

    def scan():
        return adapter_for("final_export").scan("b", str(shard.parents[1]), "hi", shard.name)

    def gnu_tar():
        subprocess.run(["tar", "-tvf", str(tar)], check=True, stdout=subprocess.DEVNULL)

    for cache in ("warm", "cold"):
        prep = (lambda: None) if cache == "warm" else (lambda: evict(tar))

        def run(fn, prep=prep):
            def go():
                prep()
                t = time.perf_counter()
                fn()
                return time.perf_counter() - t

            return min(go() for _ in range(3))

        t_walk, t_scan, t_tar = run(lambda: walk_tar(tar)), run(scan), run(gnu_tar)
        rows.append(
            (f"index ({cache} cache): tar header walk", f"{n / t_walk:,.0f} clips/s", f"{t_walk * 1e3:.0f} ms", "")
        )
        rows.append(
            (f"index ({cache} cache): walk + metadata join", f"{n / t_scan:,.0f} clips/s", f"{t_scan * 1e3:.0f} ms", "")
        )
        rows.append(
            (
                f"index ({cache} cache): GNU tar -tvf, listing only",
                f"{n / t_tar:,.0f} clips/s",
                f"{t_tar * 1e3:.0f} ms",
                "",
            )
        )
        rows.append((f"  ratio walk+join / tar -tvf ({cache})", f"{t_tar / t_scan:.2f}x", "", "goal >= 1.0x"))


def bench_read(shard: Path, rows: list, sample: int):
    members = walk_tar(shard / "audio.tar").members
    order = random.Random(0).sample(members, min(sample, len(members)))
    tar_path = str(shard / "audio.tar")
    (shard / "audio.tar").read_bytes()  # warm the page cache for every contender
    in_memory = {}
    with open(tar_path, "rb") as f:
        for m in order:
            f.seek(m.offset)
            in_memory[m.name] = f.read(m.nbytes)

    def ours(decode: bool = True):
        reader = TarOffsetReader(16000)
        get = reader.read if decode else reader.read_bytes
        for m in order:
            get(AudioRef(tar_path, m.offset, m.nbytes, m.name))
        reader.close()

    def memory():
        for m in order:
            decode_bytes(in_memory[m.name], 16000)

    t0 = time.perf_counter()
    tf = tarfile.open(tar_path)  # noqa: SIM115 (closed below, after the timed reads)
    by_name = {ti.name: ti for ti in tf.getmembers()}
    t_open = time.perf_counter() - t0

    def extract():
        for m in order:
            decode_bytes(tf.extractfile(by_name[m.name]).read(), 16000)

    def extract_raw():
        for m in order:
            tf.extractfile(by_name[m.name]).read()

    n = len(order)
    t_ours, _ = timed(ours)
    t_mem, _ = timed(memory)
    t_ext, _ = timed(extract)
    t_ours_raw, _ = timed(lambda: ours(decode=False))
    t_ext_raw, _ = timed(extract_raw)
    tf.close()

    def cold_ours():
        evict(Path(tar_path))
        t = time.perf_counter()
        ours()
        return time.perf_counter() - t

    def cold_tarfile():  # what a DataLoader worker on tarfile pays: open (reads every header), then read
        evict(Path(tar_path))
        t = time.perf_counter()
        with tarfile.open(tar_path) as f:
            members_ = {ti.name: ti for ti in f.getmembers()}
            for m in order:
                decode_bytes(f.extractfile(members_[m.name]).read(), 16000)
        return time.perf_counter() - t

    t_cold_ours, t_cold_tf = min(cold_ours() for _ in range(2)), min(cold_tarfile() for _ in range(2))

    # Global shuffling: consecutive clips come from different shards, so a worker cannot keep one
    # shard open. Each clip here is read through a freshly opened reader / tarfile.
    hops = order[:100]

    def hop_ours():
        for m in hops:
            r = TarOffsetReader(16000)
            r.read(AudioRef(tar_path, m.offset, m.nbytes, m.name))
            r.close()

    def hop_tarfile():
        for m in hops:
            with tarfile.open(tar_path) as f:
                decode_bytes(f.extractfile(m.name).read(), 16000)

    t_hop_ours, _ = timed(hop_ours, repeat=2)
    t_hop_tf, _ = timed(hop_tarfile, repeat=1)
    rows.append(("read+decode: TarOffsetReader (random order)", f"{n / t_ours:,.0f} clips/s", f"{t_ours:.2f} s", ""))
    rows.append(("read+decode: bytes already in memory", f"{n / t_mem:,.0f} clips/s", f"{t_mem:.2f} s", ""))
    rows.append(
        ("read+decode: tarfile.extractfile", f"{n / t_ext:,.0f} clips/s", f"{t_ext:.2f} s (+{t_open:.2f} s open)", "")
    )
    rows.append(("  ratio ours / in-memory", f"{t_mem / t_ours:.2f}x", "", "goal >= 0.9x"))
    rows.append(("  ratio ours / extractfile", f"{t_ext / t_ours:.2f}x", "", "goal >= 3x"))
    rows.append(("  ratio ours / extractfile incl. tarfile open", f"{(t_ext + t_open) / t_ours:.2f}x", "", ""))
    rows.append(
        ("read only (no decode): TarOffsetReader", f"{n / t_ours_raw:,.0f} clips/s", f"{t_ours_raw * 1e3:.0f} ms", "")
    )
    rows.append(
        ("read only (no decode): tarfile.extractfile", f"{n / t_ext_raw:,.0f} clips/s", f"{t_ext_raw * 1e3:.0f} ms", "")
    )
    rows.append(("  ratio ours / extractfile, read only", f"{t_ext_raw / t_ours_raw:.2f}x", "", "goal >= 3x"))
    rows.append(
        ("cold cache read+decode: TarOffsetReader", f"{n / t_cold_ours:,.0f} clips/s", f"{t_cold_ours:.2f} s", "")
    )
    rows.append(
        ("cold cache read+decode: tarfile open+extract", f"{n / t_cold_tf:,.0f} clips/s", f"{t_cold_tf:.2f} s", "")
    )
    rows.append(("  ratio ours / tarfile, cold cache", f"{t_cold_tf / t_cold_ours:.2f}x", "", "goal >= 3x"))
    rows.append(
        (
            "shard-hopping read+decode: TarOffsetReader",
            f"{len(hops) / t_hop_ours:,.0f} clips/s",
            f"{t_hop_ours * 1e3:.0f} ms / {len(hops)} clips",
            "",
        )
    )
    rows.append(
        (
            "shard-hopping read+decode: tarfile",
            f"{len(hops) / t_hop_tf:,.1f} clips/s",
            f"{t_hop_tf * 1e3:.0f} ms / {len(hops)} clips",
            "",
        )
    )
    rows.append(("  ratio ours / tarfile, shard-hopping", f"{t_hop_tf / t_hop_ours:.0f}x", "", "goal >= 3x"))


def bench_rss(shard: Path, rows: list, decode: bool):
    out = Path(tempfile.mkdtemp())
    job = {
        "corpus": "b",
        "format": "final_export",
        "root": str(shard.parents[1]),
        "lang": "hi",
        "shard": shard.name,
        "settings": {} if decode else {"decode": False, "checksums": False},
    }
    cmd = [
        sys.executable,
        str(REPO / "workflow_scripts/index_shard.py"),
        f"--job={json.dumps(job)}",
        "--index",
        str(out / "i.parquet"),
        "--report",
        str(out / "r.json"),
        "--quarantine",
        str(out / "q.parquet"),
    ]
    # GNU time reports the child's own peak; rusage taken from here would include this process's
    # pages (a forked child counts its parent's RSS until exec).
    t = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS_KB=%M", *cmd],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    dt = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(f"index_shard failed: {proc.stderr[-2000:]}")
    peak = int(proc.stderr.rsplit("MAXRSS_KB=", 1)[1].split()[0])
    report = json.loads((out / "r.json").read_text())
    mode = "decode every clip" if decode else "headers only"
    rows.append(
        (
            f"index+QC of the shard ({mode})",
            f"{report['clips_in'] / dt:,.0f} clips/s",
            f"{dt:.1f} s, peak RSS {peak / 1024:.0f} MiB",
            "",
        )
    )
    shutil.rmtree(out)


def bare_snakefile(per_shard_output: str, summary_input: str, log: str | None = None) -> str:
    """A Snakefile with nothing but the same per-shard job fan-out and one aggregate."""
    log_line = f"\n            log: {log!r}" if log else ""
    return textwrap.dedent(f'''
        import os
        ROOT = config["root"]
        SHARDS = [(l, s) for l in sorted(os.listdir(ROOT)) for s in sorted(os.listdir(os.path.join(ROOT, l)))]

        rule all:
            input: "bare/summary.txt"

        rule per_shard:
            input: os.path.join(ROOT, "{{lang}}", "{{shard}}", "audio.tar")
            output: {per_shard_output}{log_line}
            shell: "touch {{output}}"

        rule summary:
            input: [f"{summary_input}" for l, s in SHARDS]
            output: "bare/summary.txt"
            shell: "touch {{output}}"
    ''')


BARE_SNAKEFILE = bare_snakefile('"bare/{lang}/{shard}.txt"', "bare/{l}/{s}.txt")
SAME_SHAPE_SNAKEFILE = bare_snakefile(
    'index="bare/index/{lang}/{shard}.parquet", report="bare/qc/{lang}/{shard}.json", '
    'quarantine="bare/qc/{lang}/{shard}.quarantine.parquet"',
    "bare/qc/{l}/{s}.json",
    log="bare/logs/{lang}/{shard}.log",
)


def bench_dag(rows: list, workdir: Path, repeat: int = 7):
    root = workdir / "corpus"
    if not root.exists():
        for lang, n in PROD_SHARDS.items():
            for i in range(n):
                d = root / f"lang={lang}" / f"shard_{i:05d}"
                d.mkdir(parents=True)
                for name in ("audio.tar", "metadata.parquet", "audio_index.parquet", "manifest.json"):
                    (d / name).touch()
    total = sum(PROD_SHARDS.values())
    repo = workdir / "repo"
    shutil.rmtree(repo, ignore_errors=True)  # always today's code, never a copy left by an earlier run
    shutil.copytree(
        REPO,
        repo,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "results", "reports", "logs", ".snakemake", "__pycache__", ".pytest_cache"
        ),
    )
    (repo / "bench.yaml").write_text(
        json.dumps({"corpora": [{"name": "prod", "format": "final_export", "root": str(root)}]})
    )
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    bare = workdir / "bare"
    bare.mkdir(exist_ok=True)
    (bare / "Snakefile").write_text(BARE_SNAKEFILE)
    (bare / "Snakefile.shape").write_text(SAME_SHAPE_SNAKEFILE)
    runs = {
        "ours": ([snakemake, "-n", "--configfile", "bench.yaml"], repo),
        "bare": ([snakemake, "-n", "--config", f"root={root}", "-s", "Snakefile"], bare),
        "shape": ([snakemake, "-n", "--config", f"root={root}", "-s", "Snakefile.shape"], bare),
    }
    # Interleaved runs, CPU seconds (user + sys of the child): this host's speed drifts by 20 %
    # within minutes, so each round compares runs made moments apart and the median round counts.
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    jobs = 0
    for _ in range(repeat):
        for name, (cmd, cwd) in runs.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if name == "ours":
                jobs = out.stdout.count("rule index_shard:")
    ratio = {k: float(np.median(np.array(cpu["ours"]) / np.array(cpu[k]))) for k in ("bare", "shape")}
    med = {k: float(np.median(v)) for k, v in cpu.items()}
    rows.append(
        (
            f"snakemake -n, {total:,} shards: ours",
            f"{med['ours']:.1f} s",
            f"{jobs:,} index_shard jobs; CPU s, median of {repeat}",
            "",
        )
    )
    rows.append(
        (f"snakemake -n, {total:,} shards: bare Snakefile", f"{med['bare']:.1f} s", "1 input, 1 output per job", "")
    )
    rows.append(
        (
            f"snakemake -n, {total:,} shards: bare, our job shape",
            f"{med['shape']:.1f} s",
            "1 input, 3 outputs + log per job",
            "",
        )
    )
    rows.append(("  ratio ours / bare (median of rounds)", f"{ratio['bare']:.2f}x", "", ""))
    rows.append(("  ratio ours / bare with our job shape", f"{ratio['shape']:.2f}x", "", "goal <= 1.5x"))


def bench_tdt_loss(rows: list):
    """Our vectorised CPU TDT loss vs NeMo's pure-PyTorch reference (made to run on CPU), forward +
    backward, same random inputs; then ours alone at a demo-sized batch."""
    from unittest import mock

    import torch
    from nemo.collections.asr.losses.rnnt_pytorch import TDTLossPytorch

    from maya.stage1.tdt_loss import TDTLossVectorized

    durs = [0, 1, 2, 3, 4]
    torch.manual_seed(0)

    def inputs(B, T, U, V):
        acts = torch.randn(B, T, U + 1, V + 1 + len(durs))
        return acts, torch.randint(0, V, (B, U)), torch.full((B,), T), torch.full((B,), U)

    def run(loss, acts, *rest):
        a = acts.clone().requires_grad_()
        loss(a, *rest).sum().backward()

    B, T, U, V = 2, 40, 12, 64
    acts, labels, al, ll = inputs(B, T, U, V)
    ours = TDTLossVectorized(blank=V, durations=durs, sigma=0.02)
    ref = TDTLossPytorch(blank=V, durations=durs, reduction="none", sigma=0.02)
    with mock.patch.object(torch.Tensor, "cuda", lambda self, *a, **k: self):
        t_ref, _ = timed(
            lambda: run(lambda a, *r: ref(acts=a, labels=r[0], act_lens=r[1], label_lens=r[2]), acts, labels, al, ll),
            repeat=1,
        )
    t_ours, _ = timed(lambda: run(ours, acts, labels, al, ll))
    rows.append(
        (
            f"TDT loss fwd+bwd B={B} T={T} U={U} V={V}",
            f"{t_ref / t_ours:,.0f}x",
            f"ours {t_ours * 1e3:.1f} ms, NeMo tdt_pytorch {t_ref:.1f} s",
            "ours >> reference",
        )
    )
    B, T, U, V = 16, 100, 40, 1024
    acts, labels, al, ll = inputs(B, T, U, V)
    t_big, _ = timed(lambda: run(ours, acts, labels, al, ll))
    rows.append(
        (
            f"TDT loss fwd+bwd B={B} T={T} U={U} V={V} (demo batch)",
            f"{B / t_big:.0f} utt/s",
            f"ours {t_big * 1e3:.0f} ms",
            "",
        )
    )


def bench_ddp_sampler(rows: list, clips: int = 20000, world: int = 8):
    """DDP steps wait for the slowest rank: estimated time lost per step with our cost-matched
    sharding vs dealing the same batches round-robin (the usual DistributedSampler shape)."""
    import numpy as np

    from maya.stage1.sampler import BatchCaps, BucketingBatchSampler, batch_costs

    rng = np.random.default_rng(3)
    dur = rng.uniform(0.5, 19.5, clips)
    tok = (dur * rng.uniform(2, 8, clips)).astype(int) + 1
    groups = np.zeros(clips, dtype=np.int16)
    caps, edges = BatchCaps(120, 16, 400), [0, 4, 8, 12, 16, 20]
    t0 = time.perf_counter()
    per_rank = [
        list(BucketingBatchSampler(dur, tok, groups, None, edges, caps, seed=1, rank=r, world_size=world))
        for r in range(world)
    ]
    t_plan = (time.perf_counter() - t0) / world

    def cost(batch):
        return batch_costs(np.array([0, len(batch)]), dur[batch], tok[batch])[0]

    def waste(ranks):
        steps = min(len(b) for b in ranks)
        slow = sum(max(cost(ranks[r][k]) for r in range(world)) for k in range(steps))
        mean = sum(np.mean([cost(ranks[r][k]) for r in range(world)]) for k in range(steps))
        return slow / mean

    batches = BucketingBatchSampler(dur, tok, groups, None, edges, caps, seed=1).plan(0).rank_batches(0)
    order = rng.permutation(len(batches))
    naive = [[batches[i] for i in order[r::world]] for r in range(world)]
    ours, rr = waste(per_rank), waste(naive)
    rows.append(
        (
            f"DDP step time / ideal, {world} ranks, {clips:,} clips",
            f"{rr / ours:.2f}x",
            f"ours {ours:.3f}, round-robin {rr:.3f}",
            f"plan {t_plan * 1e3:.0f} ms/epoch/rank",
        )
    )


def _synthetic_indexes(root: Path, shards: int, clips: int, dup_rate: float = 0.001, seed: int = 0) -> list:
    """Shard indexes with the columns the duplicate scan reads; a planted copy repeats an earlier
    shard's id and audio hash."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from maya.dedup import ShardIndex

    out = []
    root.mkdir(parents=True, exist_ok=True)
    offsets = pa.array(np.arange(0, 64 * (clips + 1), 64, dtype=np.int32)).buffers()[1]
    for n in range(shards):
        path = root / f"{n:05d}.parquet"
        out.append(ShardIndex("prod", "hi", f"shard_{n:05d}", str(path)))
        if path.exists():
            continue
        rng = np.random.default_rng([seed, n])  # per shard: files made by an earlier, smaller run are reused
        ids = [f"hi_{n:05d}_{i:06d}" for i in range(clips)]
        sha = pa.StringArray.from_buffers(clips, offsets, pa.py_buffer(rng.bytes(32 * clips).hex().encode()))
        sha = sha.to_pylist()
        if n:
            for i in np.flatnonzero(rng.random(clips) < dup_rate):
                src = int(rng.integers(n))
                ids[i] = f"hi_{src:05d}_{int(i):06d}"
        dur = rng.uniform(1, 20, clips)
        pq.write_table(
            pa.table(
                {
                    "segment_id": ids,
                    "audio_sha256": sha,
                    "qc_reason": pa.nulls(clips, pa.string()),
                    "decoded_duration_s": dur,
                    "duration_s": dur,
                }
            ),
            path,
        )
    return out


_DEDUP_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from maya.dedup import ShardIndex, find_duplicates
shards = [ShardIndex(*s) for s in json.load(open({listing!r}))]
t = time.perf_counter()
if {naive}:
    import pyarrow.parquet as pq
    seen_id, seen_sha, n = set(), set(), 0
    for s in shards:
        t_ = pq.read_table(s.path, columns=["segment_id", "audio_sha256"]).to_pydict()
        for seg, sha in zip(t_["segment_id"], t_["audio_sha256"]):
            n += seg in seen_id or sha in seen_sha
            seen_id.add(seg); seen_sha.add(sha)
else:
    n = find_duplicates(shards).num_rows
print(json.dumps({{"s": time.perf_counter() - t, "dups": n,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def bench_dedup(rows: list, workdir: Path, shards: int, clips: int = 15000):
    total = sum(PROD_SHARDS.values())
    results = {}
    for n in (shards // 2, shards):
        idx = _synthetic_indexes(workdir / "dedup", n, clips)
        listing = workdir / f"dedup-{n}.json"
        listing.write_text(json.dumps([[s.corpus, s.language, s.shard_id, s.path] for s in idx]))
        for naive in (False, True) if n == shards // 2 else (False,):
            code = _DEDUP_CHILD.format(repo=str(REPO), listing=str(listing), naive=naive)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            results[(n, naive)] = json.loads(out.stdout.strip().splitlines()[-1])
    small, big = results[(shards // 2, False)], results[(shards, False)]
    expo = np.log(big["s"] / small["s"]) / np.log(2)
    per_m = big["s"] / (shards * clips / 1e6)
    naive = results[(shards // 2, True)]
    rows.append(
        (
            f"duplicate scan, {shards:,} shards x {clips:,} clips: ours",
            f"{per_m:.2f} s / 1M clips",
            f"{big['s']:.1f} s, peak RSS {big['rss_mb']:.0f} MiB, {big['dups']:,} copies",
            "",
        )
    )
    rows.append((f"  scaling exponent ({shards // 2:,} -> {shards:,} shards)", f"{expo:.2f}", "", "goal <= 1.1"))
    rows.append(
        (
            f"  Python-set loop at {shards // 2:,} shards",
            f"{naive['s'] / (shards // 2 * clips / 1e6):.2f} s / 1M clips",
            f"{naive['s']:.1f} s vs ours {small['s']:.1f} s ({naive['s'] / small['s']:.1f}x), "
            f"RSS {naive['rss_mb']:.0f} vs {small['rss_mb']:.0f} MiB",
            "",
        )
    )
    slope = (big["rss_mb"] - small["rss_mb"]) / (shards - shards // 2)  # MiB per shard
    rss_full = small["rss_mb"] + slope * (total - shards // 2)
    rows.append(
        (
            f"  extrapolated to {total:,} shards ({total * clips / 1e6:.0f}M clips)",
            f"{per_m * total * clips / 1e6:.0f} s",
            f"peak RSS ~{rss_full:,.0f} MiB (linear in clips)",
            "<= 16 GB",
        )
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=15000, help="clips in the benchmark shard")
    p.add_argument("--read-sample", type=int, default=3000, help="clips read in random order")
    p.add_argument("--workdir", default=str(REPO / "results" / "bench"), help="scratch space (reused)")
    p.add_argument("--skip-dag", action="store_true", help="skip the 3,551-shard dry-run benchmark")
    p.add_argument("--only-loss", action="store_true", help="only the Stage-1 benchmarks (TDT loss, DDP sampler)")
    p.add_argument("--only-dedup", action="store_true", help="only the cross-shard duplicate scan")
    p.add_argument(
        "--dedup-shards",
        type=int,
        default=356,
        help="shards in the duplicate-scan benchmark (3,551 is the full corpus: ~4.5 GB of synthetic indexes)",
    )
    args = p.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str, str]] = []
    if not args.only_dedup:
        bench_tdt_loss(rows)
        bench_ddp_sampler(rows)
    if not args.only_loss and not args.only_dedup:
        t = time.perf_counter()
        shard = make_big_shard(work / "shards", args.clips)
        size = (shard / "audio.tar").stat().st_size
        print(
            f"benchmark shard: {args.clips:,} FLAC clips, {size / 2**20:.0f} MiB "
            f"({time.perf_counter() - t:.0f} s to make)",
            flush=True,
        )
        bench_index(shard, rows)
        bench_read(shard, rows, args.read_sample)
        bench_rss(shard, rows, decode=True)
        bench_rss(shard, rows, decode=False)
    if not args.skip_dag and not args.only_loss and not args.only_dedup:
        bench_dag(rows, work / "dag")
    if not args.only_loss:
        bench_dedup(rows, work, args.dedup_shards)
    w = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark':<{w}}  {'rate':>16}  {'time':<34} goal")
    for name, rate, tm, goal in rows:
        print(f"{name:<{w}}  {rate:>16}  {tm:<34} {goal}")


if __name__ == "__main__":
    main()
