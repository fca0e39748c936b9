"""Every rule downstream of indexing, through Snakemake, on a production-shaped corpus.

``python -m benchmarks.downstream --help`` (``make bench-scale`` runs it after the data layer).

What is synthesised, as exactly what ``index_shard`` writes: for N shards x M clips (default
3,551 x 15,000; shards per language from the build guide's table) a corpus directory in the real
shard layout whose files are hard links of one small real shard (so listing, stat stamps and tar
paths are real), and per shard the offset index, QC report and quarantine that indexing would
have produced: per-language transcripts of random words (~2 words/s, sentence punctuation) from
the native-script sentences in ``../shared/data/text_pool`` (10 languages; kn and te, or all
when that folder is absent, from the project's own demo sentences), gamma-distributed 1-20 s
durations, ~60 speakers per shard from a pool of 3,000 per language, ~0.5 % quarantined with
real reason codes, and a few planted cross-shard duplicates for ``qc_summary`` to find. Rows point
at the real shard's FLAC members.

Then the real workflow runs on it (``snakemake -d WORKDIR``) to the QC summary, manifests,
splits, balance weights, Lhotse inputs, the tokenizers and the batching artifacts, and the real
``score_testset`` scores the whole test split (hypotheses synthesised from the references:
decoding needs a trained model and a GPU); every rule's
log ends with its wall time, CPU time and peak RSS (``maya.entry.run``), which this collects. Run at
two sizes (same shards, M and M/4 clips), each step gets a scaling exponent d log(cost) / d log(clips),
from wall time and from CPU time (user + system, threads and children included: on a shared host
wall time stretches with the other load, CPU time much less).

Stated fractions: the tokenizers train on ``--tokenizer-sentences`` (default 200,000; production
20M), planned from all clips; SentencePiece training time is not extrapolated.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.__main__ import PROD_SHARDS  # noqa: E402

CORPUS = "maya"
TARGETS = [
    "results/qc/summary.json",
    "results/splits/report.json",
    "results/balance/weights.json",
    "results/lhotse",
    "results/batching/bins.json",
]
STEP_ORDER = [
    "list_shards",
    "qc_summary",
    "build_manifest",
    "make_splits",
    "balance_languages",
    "lhotse_inputs",
    "train_tokenizer",
    "batching_artifacts",
    "score_testset",
]
PUNCT = {"en": "."}  # every other language ends a sentence with a danda here


def shard_plan(shards: int) -> list[tuple[str, str]]:
    """(lang, shard_id) for ``shards`` shards in the build guide's per-language proportions."""
    total = sum(PROD_SHARDS.values())
    counts = {lang: max(1, round(n * shards / total)) for lang, n in PROD_SHARDS.items()}
    return [(lang, f"shard_{i:05d}") for lang, n in counts.items() for i in range(n)]


def real_shard(root: Path) -> tuple[Path, list[dict]]:
    """One small real shard (FLAC in a tar, its index, manifest and metadata)."""
    import pyarrow.parquet as pq

    from maya.shard_writer import ShardWriter, encode_flac

    d = root / "lang=hi" / "real_0"
    if not (d / "manifest.json").exists():
        rng = np.random.default_rng(0)
        with ShardWriter(root, "hi", "real_0") as w:
            for i in range(8):
                n = int(rng.uniform(1.0, 3.0) * 16000)
                audio = 0.1 * np.sin(np.arange(n) * rng.uniform(0.02, 0.1)) + 0.01 * rng.standard_normal(n)
                w.add(f"r{i}", encode_flac(audio.astype(np.float32), 16000), transcript="x", duration_s=n / 16000)
    return d, pq.read_table(d / "audio_index.parquet").to_pylist()


TEXT_POOL = REPO.parent / "shared" / "data" / "text_pool"


def vocabularies() -> dict[str, object]:
    """Each language's words (an Arrow array per language): from the native-script sentences in
    ``../shared/data/text_pool`` where that language has them (a realistic vocabulary for a 32K
    BPE), else from the project's own demo sentences."""
    import pyarrow as pa

    from maya.corpus.demo import load_sentences

    strip = ".,!?।॥\"'()[]:;"
    out = {}
    for lang in PROD_SHARDS:
        pool = TEXT_POOL / f"{lang}.tsv"
        if pool.exists():
            lines = (x.split("\t", 1)[-1] for x in pool.read_text(encoding="utf-8").splitlines())
        else:
            lines = (s.text for s in load_sentences(lang))
        words = sorted({w.strip(strip) for line in lines for w in line.split()} - {""})
        out[lang] = pa.array(words)
    return out


def shard_index(lang: str, shard: str, k: int, clips: int, vocab, tar: Path, members: list[dict], seed: int):
    """The index table ``index_shard`` would write for one shard (vectorised)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from maya.shard_schema import INDEX_SCHEMA

    rng = np.random.default_rng([seed, k])
    dur = np.clip(rng.gamma(4.0, 2.0, clips), 1.0, 20.0).round(3)
    nwords = np.maximum(1, rng.poisson(2.0 * dur))
    offsets = np.concatenate([[0], np.cumsum(nwords)]).astype(np.int32)
    words = vocab.take(pa.array(rng.integers(len(vocab), size=int(offsets[-1]))))
    text = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), words), " ")
    text = pc.binary_join_element_wise(text, PUNCT.get(lang, "\u0964"), "")
    seg = pc.binary_join_element_wise(
        pa.repeat(f"{lang}_{shard}_", clips), pa.array(np.arange(clips)).cast(pa.string()), ""
    )
    speakers = rng.integers(3000, size=60)[rng.integers(60, size=clips)]
    spk = pc.binary_join_element_wise(pa.repeat(f"{lang}_spk", clips), pa.array(speakers).cast(pa.string()), "")
    which = np.arange(clips) % len(members)
    sha = pc.binary_join_element_wise(
        pa.repeat(f"{lang}{k:05d}", clips), pa.array(np.arange(clips)).cast(pa.string()), ""
    )
    reason = np.full(clips, None, dtype=object)
    bad = rng.random(clips) < 0.005
    reason[bad] = rng.choice(["implausible_text_rate", "too_short", "decode_error"], size=int(bad.sum()))
    if k % 400 == 1:  # a few planted cross-shard copies: the same bytes as the previous shard's clips
        sha = pc.replace_with_mask(
            sha,
            pa.array(np.arange(clips) < 5),
            pc.binary_join_element_wise(
                pa.repeat(f"{lang}{k - 1:05d}", 5), pa.array(np.arange(5)).cast(pa.string()), ""
            ),
        )
    cols = {
        "corpus": pa.repeat(CORPUS, clips),
        "shard_id": pa.repeat(shard, clips),
        "language": pa.repeat(lang, clips),
        "segment_id": seg,
        "transcript": text,
        "duration_s": dur,
        "speaker_id": spk,
        "domain": pa.repeat("general", clips),
        "gender": pa.array(np.where(speakers % 2, "female", "male")),
        "audio_path": pa.repeat(str(tar), clips),
        "member": pa.array([m["member"] for m in members]).take(pa.array(which)),
        "offset": np.array([m["offset"] for m in members])[which],
        "nbytes": np.array([m["nbytes"] for m in members])[which],
        "source_sample_rate": pa.repeat(16000, clips).cast(pa.int32()),
        "source_channels": pa.repeat(1, clips).cast(pa.int32()),
        "decoded_duration_s": dur,
        "audio_sha256": sha,
        "qc_reason": pa.array(reason, pa.string()),
        "qc_detail": pc.if_else(pa.array(bad), pa.scalar("synthetic finding"), pa.scalar(None, pa.string())),
    }
    return pa.table({f.name: cols[f.name] for f in INDEX_SCHEMA}).cast(INDEX_SCHEMA)


def report(lang: str, shard: str, index, settings: dict) -> dict:
    """The QC report ``index_shard`` writes for a shard (as maya.qc.shard_report builds it)."""
    import pyarrow.compute as pc

    reasons = {r["values"]: r["counts"] for r in pc.value_counts(index.column("qc_reason").drop_null()).to_pylist()}
    kept = pc.is_null(index.column("qc_reason"))
    hours_in = pc.sum(index.column("duration_s")).as_py() / 3600
    hours_kept = (pc.sum(index.column("duration_s").filter(kept)).as_py() or 0.0) / 3600
    return {
        "corpus": CORPUS,
        "language": lang,
        "shard_id": shard,
        "status": "degraded" if reasons else "ok",
        "failure": None,
        "problems": [],
        "clips_in": index.num_rows,
        "clips_kept": index.num_rows - sum(reasons.values()),
        "clips_quarantined": sum(reasons.values()),
        "quarantined_by_reason": dict(sorted(reasons.items())),
        "repaired": {},
        "hours_in": round(hours_in, 6),
        "hours_kept": round(hours_kept, 6),
        "settings": settings,
    }


def synthesise(work: Path, shards: int, clips: int, seed: int = 0) -> dict:
    """Corpus directories + per-shard index artifacts; returns counts and wall time."""
    import pyarrow.parquet as pq
    from tqdm import tqdm

    from maya.qc import QCSettings
    from maya.shard_schema import SHARD_FILES, shard_dir

    t0 = time.perf_counter()
    real, members = real_shard(work / "real")
    vocab = vocabularies()
    settings = {**QCSettings().__dict__}
    plan = shard_plan(shards)
    rows = 0
    for k, (lang, shard) in enumerate(
        tqdm(plan, desc=f"synthesising {len(plan)} shards x {clips} clips", unit="shard", mininterval=10)
    ):
        d = shard_dir(work / "corpus", lang, shard)
        d.mkdir(parents=True, exist_ok=True)
        for name in SHARD_FILES:
            if not (d / name).exists():
                os.link(real / name, d / name)
        index = shard_index(lang, shard, k, clips, vocab[lang], (d / "audio.tar").absolute(), members, seed)
        out = work / "results" / "index" / CORPUS / lang / f"{shard}.parquet"
        qc = work / "results" / "qc" / CORPUS / lang
        out.parent.mkdir(parents=True, exist_ok=True)
        qc.mkdir(parents=True, exist_ok=True)
        pq.write_table(index, out)
        pq.write_table(index.filter(index.column("qc_reason").is_valid()), qc / f"{shard}.quarantine.parquet")
        (qc / f"{shard}.json").write_text(json.dumps(report(lang, shard, index, settings), indent=1) + "\n")
        rows += index.num_rows
    return {"shards": len(plan), "clips": rows, "synthesise_s": time.perf_counter() - t0}


def sim_config(work: Path, tokenizer_sentences: int) -> Path:
    """The production config with this corpus in place of /root/sft_data (lists replace on merge)."""
    import yaml

    cfg = {
        "corpora": [
            {
                "name": CORPUS,
                "format": "final_export",
                "root": str((work / "corpus").absolute()),
                "use": "train",
                "synthesise": False,
            }
        ],
        "tokenizer": {"sample_sentences": tokenizer_sentences},
    }
    path = work / "sim.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_workflow(work: Path, config: Path, cores: int) -> float:
    snakemake = str(Path(sys.executable).parent / "snakemake")
    cmd = [
        snakemake,
        *TARGETS,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(work),
        "--cores",
        str(cores),
        "--rerun-triggers",
        "mtime",
        "--configfile",
        str(REPO / "config.yaml"),
        str(REPO / "config/prod.yaml"),
        str(config),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (work / "snakemake.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(
            f"snakemake failed (rc {proc.returncode}); see {work / 'snakemake.log'}:\n"
            + "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        )
    return wall


_STEP_LINE = re.compile(r"maya: (\w+): ([\d.]+) s, ([\d.]+) CPU s, peak RSS (\d+) MB")


def step_figures(work: Path) -> dict[str, dict]:
    """Per step: wall and CPU seconds (summed over its jobs), max peak RSS, job count, from the rule logs."""
    out: dict[str, dict] = {}
    for log in sorted((work / "logs").rglob("*.log")):
        for m in _STEP_LINE.finditer(log.read_text(errors="replace")):
            step = m.group(1)
            f = out.setdefault(step, {"wall_s": 0.0, "cpu_s": 0.0, "peak_mb": 0.0, "jobs": 0})
            f["wall_s"] += float(m.group(2))
            f["cpu_s"] += float(m.group(3))
            f["peak_mb"] = max(f["peak_mb"], float(m.group(4)))
            f["jobs"] += 1
    return out


def score_test_split(work: Path, error_rate: float = 0.15, seed: int = 0) -> None:
    """``score_testset`` (the real entry point, production eval settings) on the whole test split:
    a ``hyps.jsonl`` as ``decode_testset`` writes it, each hypothesis its reference with a fraction
    of clips given another clip's transcript (decoding itself needs a trained model and a GPU)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import yaml

    from maya.jsonl import json_lines, write_lines

    test = pq.read_table(
        work / "results/splits/test.parquet", columns=["segment_id", "language", "transcript", "duration_s"]
    )
    rng = np.random.default_rng(seed)
    wrong = rng.random(test.num_rows) < error_rate
    other = test.column("transcript").take(pa.array(rng.permutation(test.num_rows)))
    hyp = pc.if_else(pa.array(wrong), other, test.column("transcript"))
    out = work / "results/eval/stage1/heldout/tdt_greedy"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "hyps.jsonl", "wb") as f:
        write_lines(
            json_lines(
                {
                    "segment_id": test.column("segment_id"),
                    "lang": test.column("language"),
                    "ref": test.column("transcript"),
                    "hyp": hyp,
                    "seconds": test.column("duration_s"),
                }
            ),
            f,
        )
    prod = yaml.safe_load((REPO / "config/prod.yaml").read_text())["eval"]
    settings = json.dumps({k: prod[k] for k in ("bootstrap_samples",) if k in prod})
    log = work / "logs/eval/score_stage1_heldout_tdt_greedy.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        subprocess.run(
            [
                sys.executable,
                str(REPO / "workflow_scripts/score_testset.py"),
                f"--settings={settings}",
                f"--hyps={out / 'hyps.jsonl'}",
                f"--out={out / 'scores.json'}",
            ],
            stdout=f,
            stderr=subprocess.STDOUT,
            check=True,
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )


def measure(work: Path, shards: int, clips: int, cores: int, tokenizer_sentences: int) -> dict:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    made = synthesise(work, shards, clips)
    wall = run_workflow(work, sim_config(work, tokenizer_sentences), cores)
    score_test_split(work)
    return {**made, "workflow_s": wall, "steps": step_figures(work)}


def exponent(big: dict, small: dict | None, step: str, key: str) -> str:
    """d log(cost) / d log(clips) between the two sizes."""
    if not small or step not in small["steps"] or small["clips"] == big["clips"]:
        return ""
    a, b = small["steps"][step][key], big["steps"][step][key]
    return f"{math.log(b / a) / math.log(big['clips'] / small['clips']):.2f}" if min(a, b) > 0 else ""


def table(big: dict, small: dict | None) -> list[tuple]:
    rows = []
    n = big["clips"]
    for step in STEP_ORDER:
        f = big["steps"].get(step)
        if not f:
            continue
        note = f"{f['jobs']} jobs" if f["jobs"] > 1 else ""
        if step == "train_tokenizer":
            note = (note + "; " if note else "") + "SentencePiece on the stated sample"
        if step == "score_testset":
            note = (note + "; " if note else "") + "the test split, prod bootstrap (decoding not run)"
        rows.append(
            (
                step,
                f"{n:,}",
                f"{f['wall_s']:.1f}",
                f"{f['cpu_s']:.1f}",
                f"{f['peak_mb'] / 1024:.2f} GiB",
                f"{f['wall_s'] / (n / 1e6):.2f}",
                exponent(big, small, step, "wall_s"),
                exponent(big, small, step, "cpu_s"),
                note,
            )
        )
    return rows


def print_table(
    rows: list[tuple],
    header=(
        "step",
        "clips",
        "wall s",
        "CPU s",
        "peak RSS",
        "s per 1M clips",
        "exponent (wall)",
        "exponent (CPU)",
        "note",
    ),
):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/maya-bench-downstream"),
        help="scratch directory (~25 GB at full size); wiped first",
    )
    p.add_argument("--shards", type=int, default=sum(PROD_SHARDS.values()), help="shards (build guide: 3,551)")
    p.add_argument("--clips-per-shard", type=int, default=15000, help="clips per shard (build guide: ~15,000)")
    p.add_argument(
        "--small-fraction",
        type=float,
        default=0.25,
        help="second run at this fraction of the clips per shard, for the scaling exponent (0: skip)",
    )
    p.add_argument("--tokenizer-sentences", type=int, default=200_000, help="tokenizer sample (prod: 20M)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args(argv)
    small = None
    if a.small_fraction:
        m = max(1, round(a.clips_per_shard * a.small_fraction))
        small = measure(a.workdir / "small", a.shards, m, a.cores, a.tokenizer_sentences)
        shutil.rmtree(a.workdir / "small", ignore_errors=True)
    big = measure(a.workdir / "full", a.shards, a.clips_per_shard, a.cores, a.tokenizer_sentences)
    print(
        f"\nDownstream of indexing: {big['shards']:,} shards, {big['clips']:,} clips "
        f"(synthesised in {big['synthesise_s']:.0f} s; "
        f"workflow {big['workflow_s']:.0f} s on {a.cores} cores)"
        + (f"; exponents against {small['clips']:,} clips" if small else "")
    )
    print_table(table(big, small))
    print(
        f"goals: peak RSS <= 16 GiB per step, exponent <= 1.1; tokenizer sample {a.tokenizer_sentences:,} "
        "sentences (prod 20M)"
    )
    if a.json:
        a.json.write_text(json.dumps({"full": big, "small": small}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
