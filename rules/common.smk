# Shared helpers: config validation, corpus lookup, input functions, code fingerprints.
import dataclasses
import functools
import inspect
import json
import os
import re
import shlex
import sys
from pathlib import Path

# Import the repo's own maya/ (not a copy installed elsewhere) at DAG time and in every job.
sys.path.insert(0, workflow.basedir)

from snakemake.common import overwrite_function_params
from snakemake.logging import logger
from snakemake.utils import validate

from maya.config import SCHEMA_PATH
from maya.adapters import adapter_for
from maya.corpus.broken import KINDS as BROKEN_KINDS
from maya.corpus.broken import LANG as BROKEN_LANG
from maya.corpus.catalog import corpus_shards, skipped_shards
from maya.corpus.listing import listing_digest
from maya.errors import MayaError
from maya.fingerprint import code_fingerprint
from maya.qc import QCSettings
from maya.shard_schema import LANGUAGES, SHARD_FILES


validate(config, SCHEMA_PATH, set_default=True)

REPO = workflow.basedir
# Jobs run the interpreter Snakemake runs in, so a bare `.venv/bin/snakemake` works without
# activating the venv. With --sdm conda each rule's env provides `python` instead.
PY = "python" if "conda" in str(workflow.deployment_settings.deployment_method).lower() else sys.executable
# Every rule calls one entry point as `maya_step <workflow_script> args...`; the repo's maya/ is
# on PYTHONPATH so jobs import this checkout's library, not some other installed copy. A rule that
# sets MAYA_LAUNCH (e.g. "srun ...") runs the entry point under that launcher.
_prefix = (
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(REPO)}${{PYTHONPATH:+:$PYTHONPATH}}; "
    f'maya_step() {{ local s=$1; shift; ${{MAYA_LAUNCH:-}} {shlex.quote(PY)} {shlex.quote(REPO)}/workflow_scripts/$s.py "$@"; }}; '
)
shell.prefix(_prefix.replace("{", "{{").replace("}", "}}"))  # Snakemake brace-formats the prefix

CORPORA = {c["name"]: c for c in config["corpora"]}

for _c in CORPORA.values():
    if _c.get("synthesise") and Path(_c["root"]) != Path("results/corpus") / _c["name"]:
        raise ValueError(
            f"corpus {_c['name']!r}: a synthesised corpus must have root "
            f"'results/corpus/{_c['name']}' (got {_c['root']!r})"
        )

ADAPTERS = {c["format"]: adapter_for(c["format"]) for c in CORPORA.values()}
DEMO_CORPORA = [n for n, c in CORPORA.items() if c.get("synthesise") == "demo"]
BROKEN_CORPORA = [n for n, c in CORPORA.items() if c.get("synthesise") == "broken"]


wildcard_constraints:
    corpus="|".join(re.escape(c) for c in CORPORA),
    stage="stage1|stage2a|stage2b|stage3",
    llm_stage="stage2|stage3",
    decoder="(tdt|ctc)_greedy(_nohint)?|llm_(greedy|beam)",
    testset=r"[^/]+",
    lang="|".join(LANGUAGES),
    shard=r"[^/]+",


def code(*scripts):
    """Fingerprint of entry-point scripts and the maya modules they import (params: code=...)."""
    return code_fingerprint(REPO, *(f"workflow_scripts/{s}" for s in scripts))


def corpus_languages(corpus):
    c = CORPORA[corpus]
    wanted = c.get("languages") or config["languages"]
    if c.get("synthesise") == "broken":
        wanted = [BROKEN_LANG] if BROKEN_LANG in wanted else []
    return [lang for lang in config["languages"] if lang in wanted]


def demo_shard_ids():
    n = config["demo_corpus"]["shards_per_language"]
    return [f"shard_{i:05d}" for i in range(n)]


def synthesised_shards(wildcards):
    """What a synthesised corpus' shard listing waits for (nothing for corpora on disk).
    ancient(): the listing needs the shards to exist; a change inside one is for its index job."""
    corpus = wildcards.corpus
    if corpus in DEMO_CORPORA:
        paths = [
            f"results/corpus/{corpus}/lang={lang}/{shard}/manifest.json"
            for lang in corpus_languages(corpus)
            for shard in demo_shard_ids()
        ]
    elif corpus in BROKEN_CORPORA:
        paths = [f"results/corpus/{corpus}/lang={lang}/{kind}" for lang in corpus_languages(corpus) for kind in BROKEN_KINDS]
    else:
        paths = []
    return [ancient(p) for p in paths]


@functools.cache
def shards_of(corpus):
    """(lang, shard_id) pairs of a corpus, decided at DAG time (see maya/corpus/catalog.py)."""
    c = CORPORA[corpus]
    try:
        return corpus_shards(c, corpus_languages(corpus), config["demo_corpus"]["shards_per_language"])
    except MayaError as e:
        # E.g. `-n --profile h200` on a machine without the production corpus: plan the rest,
        # and let list_shards fail with this message if someone really runs it.
        logger.warning(f"corpus {corpus!r}: {e}; its per-shard jobs are not in this plan")
        return []


@functools.cache
def skipped_of(corpus):
    """Shard directories of a corpus that cannot be shard ids; reported, never planned."""
    try:
        skipped = skipped_shards(CORPORA[corpus], corpus_languages(corpus))
    except MayaError:
        return []
    for s in skipped:
        logger.warning(f"corpus {corpus!r}: skipping shard directory {s['directory']}: {s['reason']}")
    return skipped


def corpus_listing_digest(wildcards):
    return listing_digest(shards_of(wildcards.corpus), skipped_of(wildcards.corpus))


LISTINGS = [f"results/shards/{corpus}.tsv" for corpus in CORPORA]
SKIPPED_LISTINGS = [f"results/shards/{corpus}.skipped.json" for corpus in CORPORA]


def per_shard(func):
    """Mark a per-shard input function or param: Snakemake then reads its argument names from
    here instead of calling inspect.signature for every one of 3,551 jobs, twice (~0.4 s of -n)."""
    overwrite_function_params(func, inspect.signature(func).parameters)  # computed once, here
    return func


@per_shard
def shard_index_inputs(wildcards):
    """The files whose change must re-index one shard; only files that exist (a shard missing
    files is QC's finding, not a reason to stop the whole DAG)."""
    return _shard_inputs(wildcards.corpus, wildcards.lang, wildcards.shard)


# Snakemake evaluates input functions and params more than once per job; at 3,551 shards the
# stat calls behind them are worth caching.
@functools.cache
def _shard_inputs(corpus, lang, shard):
    c = CORPORA[corpus]
    if c.get("synthesise") == "demo":
        return [f"results/corpus/{corpus}/lang={lang}/{shard}/{name}" for name in SHARD_FILES]
    if c.get("synthesise") == "broken":
        return [f"results/corpus/{corpus}/lang={lang}/{shard}"]
    return ADAPTERS[c["format"]].shard_inputs(c["root"], lang, shard)


@per_shard
def shard_job(wildcards):
    """Everything one shard's QC reads, as the one JSON its `--job` takes: where the shard lives
    and how to read it, the QC settings, and a stat stamp of its companion files (a changed
    manifest.json or audio_index.parquet reruns the shard without being a declared input).
    One formatted field per job, not seven: `snakemake -n` formats it 3x per job at 3,551 shards."""
    return _shard_job(wildcards.corpus, wildcards.lang, wildcards.shard)


# Only what a shard's QC reads: a change to the summary's limits must not re-index 3,551 shards.
QC_SETTINGS = dataclasses.asdict(QCSettings.from_config(config))


@functools.cache
def _shard_job(corpus, lang, shard):
    c = CORPORA[corpus]
    stamp = "synthesised" if c.get("synthesise") else ADAPTERS[c["format"]].shard_stamp(c["root"], lang, shard)
    return json.dumps({"corpus": corpus, "format": c["format"], "root": c["root"], "lang": lang, "shard": shard,
                       "columns": c.get("columns") or {}, "settings": QC_SETTINGS, "stamp": stamp},
                      sort_keys=True)


def qc_limits():
    q = config["qc"]
    return {
        name: {
            k: c.get(k, q[k]) for k in ("max_failed_shard_fraction", "max_quarantined_clip_fraction")
        }
        for name, c in CORPORA.items()
    }


def all_indexes(wildcards):
    return [
        f"results/index/{corpus}/{lang}/{shard}.parquet" for corpus in CORPORA for lang, shard in shards_of(corpus)
    ]


def language_indexes(wildcards):
    return [
        f"results/index/{wildcards.corpus}/{lang}/{shard}.parquet"
        for lang, shard in shards_of(wildcards.corpus)
        if lang == wildcards.lang
    ]


def manifest_targets(use=("train", "eval")):
    return [
        f"results/manifests/{corpus}/{lang}.{ext}"
        for corpus in CORPORA
        if CORPORA[corpus]["use"] in use
        for lang in sorted({lang for lang, _ in shards_of(corpus)})
        for ext in ("parquet", "jsonl")
    ]


def all_manifests(wildcards):
    """Manifests of the training corpora (what splits, balance and tokenizers read)."""
    return [p for p in manifest_targets(("train",)) if p.endswith(".parquet")]


def settings(section, drop=(), keep=None):
    """One validated config section (or the part of it a step reads) as the JSON its `--settings`
    takes: as a param, a change reruns exactly the steps that read it; the schema filled in
    every default."""
    return json.dumps({k: v for k, v in config[section].items()
                       if k not in drop and (keep is None or k in keep)}, sort_keys=True)


STAGE1_VOCAB = config["tokenizer"]["vocab_size"]
TOKENIZER_VOCABS = sorted({STAGE1_VOCAB, config["tokenizer"]["ctc_vocab_size"] or STAGE1_VOCAB})


# Everything Stage 1 reads, and nothing else (params below decide reruns).
STAGE1_SETTINGS = {
    "stage1": config["stage1"],
    "languages": config["languages"],
    "data": {"sample_rate": config["data"]["sample_rate"], "bucket_edges_s": config["data"]["bucket_edges_s"]},
}
STAGE1_GPUS = config["stage1"]["trainer"]["devices"] if config["stage1"]["trainer"]["accelerator"] == "gpu" else 0
STAGE1_NODES = config["stage1"]["trainer"]["num_nodes"]
# CPU demo: no worker processes (2 cores do the model); GPU: workers feed 8 devices.
STAGE1_WORKERS = 6 if STAGE1_GPUS else 0
STAGE1_INPUTS = {
    "train_clips": "results/batching/train_clips.arrow",
    "val": "results/splits/val.parquet",
    "tokenizer": f"results/tokenizer/bpe{STAGE1_VOCAB}/tokenizer.model",
    "balance": "results/balance/weights.json",
}


def stage1_inputs(wildcards):
    # The pretrained weights are not an input: a fresh clone must still plan (`-n`) without them.
    # The readiness gate fails with a clear message when they are missing or unreadable.
    return STAGE1_INPUTS


def stage1_gate(wildcards):
    """The readiness gate runs before GPU training only (never on the CPU demo)."""
    return ["results/stage1/readiness.json"] if STAGE1_GPUS else []


def launcher(section, resources):
    """How training (`section`: stage1 or stage2) starts its ranks. Under SLURM (`--profile
    slurm` gives the rule resources mpi=srun) one srun task per device on each node, so Lightning's
    SLURMEnvironment takes ranks from SLURM; elsewhere Lightning starts its processes itself."""
    mpi = resources.get("mpi") if hasattr(resources, "get") else None
    if not mpi:
        return ""
    tr = config[section]["trainer"]
    srun = f"{mpi} --kill-on-bad-exit=1 --nodes={tr['num_nodes']} --ntasks-per-node={tr['devices']}"
    return f"MAYA_LAUNCH={shlex.quote(srun)}"


def stage1_run_key():
    import hashlib

    settings = json.dumps(STAGE1_SETTINGS, sort_keys=True)
    blob = f"{settings}\n{code_fingerprint(REPO, 'workflow_scripts/train_stage1.py')}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---- stage 2 --------------------------------------------------------------------------------
STAGE2_GPUS = config["stage2"]["trainer"]["devices"] if config["stage2"]["trainer"]["accelerator"] == "gpu" else 0
STAGE2_NODES = config["stage2"]["trainer"]["num_nodes"]
STAGE2_WORKERS = 6 if STAGE2_GPUS else 0


def stage2_settings(stage):
    """What training `stage` (stage2a, stage2b, stage3) reads: the shared stage2 settings and its own
    part (2a never reads 2b's)."""
    s2 = {k: v for k, v in config["stage2"].items()
          if k not in ("stage2a", "stage2b", "llm", "llm_name", "tokenizer_source") or k == stage}
    if stage == "stage3":
        s2["stage2b"] = config["stage2"]["stage2b"]  # Stage 3 runs at lr_scale x the 2b peak LRs
    out = {"stage2": s2, "languages": config["languages"], "data": STAGE1_SETTINGS["data"]}
    if stage == "stage3":
        out["stage3"] = config["stage3"]
    return out


def stage2_run_key(stage):
    import hashlib

    settings = json.dumps(stage2_settings(stage), sort_keys=True)
    blob = f"{settings}\n{code_fingerprint(REPO, 'workflow_scripts/train_stage2.py')}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


STAGE2_INIT = {"stage2a": "results/stage1/final.nemo", "stage2b": "results/stage2a/final.ckpt",
               "stage3": "results/stage2b/final.ckpt"}


def stage2_inputs(wildcards):
    """What training Stage 2a, 2b or 3 reads: 3 trains on the Stage-3 clips, 2a/2b on every train clip."""
    clips = "stage3" if wildcards.stage == "stage3" else "stage2"
    return {"init": STAGE2_INIT[wildcards.stage], "llm": "results/llm", "tokenizer": "results/tokenizer/gemma",
            "train_clips": f"results/{clips}/train_clips.arrow", "val": "results/splits/val.parquet",
            "balance": "results/balance/weights.json"}


def stage2_gate(wildcards):
    """The readiness gate runs before GPU training only (never on the CPU demo)."""
    return {"readiness": f"results/{wildcards.stage}/readiness.json"} if STAGE2_GPUS else {}


# ---- evaluation -------------------------------------------------------------------------------
EVAL_CORPORA = [n for n, c in CORPORA.items() if c["use"] == "eval"]
# "heldout" is the test split of the training corpora; every eval corpus is one more test set.
TESTSETS = ["heldout", *EVAL_CORPORA]
# decoder name -> (head, language hint). The *_nohint rows are what stock NeMo users get from
# results/stage1/maya_asr.nemo (no language embedding: the same as this model without a hint).
EVAL_DECODERS = {"tdt_greedy": ("tdt", True), "ctc_greedy": ("ctc", True),
                 "tdt_greedy_nohint": ("tdt", False), "ctc_greedy_nohint": ("ctc", False),
                 "llm_greedy": ("greedy", True), "llm_beam": ("beam", True)}


def stage_model(stage):
    """The checkpoint of a stage: Stage 1's .nemo, a Lightning checkpoint for Stages 2a/2b."""
    return "results/stage1/final.nemo" if stage == "stage1" else f"results/{stage}/final.ckpt"


def stage_decoders(stage):
    return config["eval"]["decoders"] if stage == "stage1" else config["eval"]["llm_decoders"]


def testset_parquet(wildcards):
    if wildcards.testset == "heldout":
        return "results/splits/test.parquet"
    return f"results/eval/testsets/{wildcards.testset}.parquet"


def eval_testset_manifests(wildcards):
    corpus = wildcards.testset
    return [f"results/manifests/{corpus}/{lang}.parquet" for lang in sorted({l for l, _ in shards_of(corpus)})]


def eval_outputs(name):
    return [f"results/eval/{stage}/{testset}/{decoder}/{name}"
            for stage in config["eval"]["stages"] for testset in TESTSETS for decoder in stage_decoders(stage)]


def git_commit():
    import subprocess

    try:
        out = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if out.returncode != 0:
            return "unknown (not a git checkout)"
        return f"{out.stdout.strip()}{' (uncommitted changes)' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"


def config_hash():
    import hashlib

    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def final_targets(wildcards):
    return [
        "results/qc/summary.json",
        *manifest_targets(),
        "results/splits/report.json",
        "results/balance/weights.json",
        "results/lhotse",
        *[f"results/tokenizer/bpe{v}/tokenizer.model" for v in TOKENIZER_VOCABS],
        "results/tokenizer/fertility.json",
        "results/batching/bins.json",
        "results/stage1/final.nemo",
        "results/stage1/maya_asr.nemo",
        *[stage_model(s) for s in config["eval"]["stages"]],
        "reports/eval.html",
    ]
