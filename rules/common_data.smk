# Corpus catalog and per-shard input functions: which shards exist (decided at DAG time), what
# each shard's job reads, and the manifests the training inputs are built from.
import dataclasses
import functools
import inspect

from snakemake.common import overwrite_function_params
from snakemake.logging import logger

from maya.corpus.catalog import corpus_shards, skipped_shards
from maya.corpus.listing import listing_digest
from maya.errors import MayaError
from maya.qc import QCSettings


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
    except (MayaError, OSError) as e:
        # E.g. `-n --profile h200` on a machine without the production corpus: plan the rest,
        # and let list_shards fail with this message if someone really runs it.
        logger.warning(f"corpus {corpus!r}: {e}; its per-shard jobs are not in this plan")
        return []


@functools.cache
def skipped_of(corpus):
    """Shard directories of a corpus that cannot be shard ids; reported, never planned."""
    try:
        skipped = skipped_shards(CORPORA[corpus], corpus_languages(corpus))
    except (MayaError, OSError):
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
    try:
        return ADAPTERS[c["format"]].shard_inputs(c["root"], lang, shard)
    except OSError:  # a shard that vanished or cannot be read: its job finds out and says so
        return []


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
    try:
        stamp = "synthesised" if c.get("synthesise") else ADAPTERS[c["format"]].shard_stamp(c["root"], lang, shard)
    except OSError as e:
        stamp = f"unreadable: {e}"
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
