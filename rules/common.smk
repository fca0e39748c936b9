# Shared helpers: config validation, corpus lookup, input functions, code fingerprints.
import shlex
import sys
from pathlib import Path

# Import the repo's own maya/ (not a copy installed elsewhere) at DAG time and in every job.
sys.path.insert(0, workflow.basedir)

from snakemake.utils import validate

from maya.config import SCHEMA_PATH
from maya.corpus.listing import listing_fingerprint, read_listing
from maya.fingerprint import code_fingerprint
from maya.shard_schema import LANGUAGES, SHARD_FILES


validate(config, SCHEMA_PATH, set_default=True)

REPO = workflow.basedir
# Jobs run the interpreter Snakemake runs in, so a bare `.venv/bin/snakemake` works without
# activating the venv. With --sdm conda each rule's env provides `python` instead.
PY = "python" if "conda" in str(workflow.deployment_settings.deployment_method).lower() else sys.executable
# Every rule calls one entry point as `maya_step <workflow_script> args...`; the repo's maya/ is
# on PYTHONPATH so jobs import this checkout's library, not some other installed copy.
_prefix = (
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(REPO)}${{PYTHONPATH:+:$PYTHONPATH}}; "
    f'maya_step() {{ local s=$1; shift; {shlex.quote(PY)} {shlex.quote(REPO)}/workflow_scripts/$s.py "$@"; }}; '
)
shell.prefix(_prefix.replace("{", "{{").replace("}", "}}"))  # Snakemake brace-formats the prefix

CORPORA = {c["name"]: c for c in config["corpora"]}

for _c in CORPORA.values():
    if _c.get("synthesise") and Path(_c["root"]) != Path("results/corpus") / _c["name"]:
        raise ValueError(
            f"corpus {_c['name']!r}: a synthesised corpus must have root "
            f"'results/corpus/{_c['name']}' (got {_c['root']!r})"
        )

SYNTHESISED = [n for n, c in CORPORA.items() if c.get("synthesise")]


wildcard_constraints:
    corpus="|".join(CORPORA),
    lang="|".join(LANGUAGES),


def code(*scripts):
    """Fingerprint of entry-point scripts and the maya modules they import (params: code=...)."""
    return code_fingerprint(REPO, *(f"workflow_scripts/{s}" for s in scripts))


def corpus_languages(corpus):
    wanted = CORPORA[corpus].get("languages") or config["languages"]
    return [lang for lang in config["languages"] if lang in wanted]


def demo_shard_ids():
    n = config["demo_corpus"]["shards_per_language"]
    return [f"shard_{i:05d}" for i in range(n)]


def synthesised_shard_files(wildcards):
    """All files of a synthesised corpus (the shard listing waits for them)."""
    corpus = wildcards.corpus
    if corpus not in SYNTHESISED:
        return []
    return [
        f"results/corpus/{corpus}/lang={lang}/{shard}/manifest.json"
        for lang in corpus_languages(corpus)
        for shard in demo_shard_ids()
    ]


def corpus_listing_fingerprint(wildcards):
    c = CORPORA[wildcards.corpus]
    if c.get("synthesise"):
        return "synthesised"
    return listing_fingerprint(c["root"], corpus_languages(wildcards.corpus))


def shards_of(corpus):
    """(lang, shard_id) pairs of a corpus, read from its shard listing (a checkpoint)."""
    listing = checkpoints.list_shards.get(corpus=corpus).output[0]
    return read_listing(listing)


def final_targets():
    return [f"results/shards/{corpus}.tsv" for corpus in CORPORA]
