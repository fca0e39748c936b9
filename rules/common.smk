# Shared by every rules file: the validated config, how a job starts its entry point, wildcard
# constraints, and the two helpers every rule's params use (code fingerprints, config sections).
import json
import os
import re
import shlex
import sys
from pathlib import Path

# Import the repo's own maya/ (not a copy installed elsewhere) at DAG time and in every job.
sys.path.insert(0, workflow.basedir)

from snakemake.utils import validate

from maya.config import SCHEMA_PATH, key_sorted
from maya.adapters import adapter_for
from maya.corpus.broken import KINDS as BROKEN_KINDS
from maya.corpus.broken import LANG as BROKEN_LANG
from maya.fingerprint import code_fingerprint
from maya.shard_schema import LANGUAGES, SHARD_FILES


validate(config, SCHEMA_PATH, set_default=True)
# Keys in one order whatever order the config files were merged in (a profile's configfile list or
# --configfile): Snakemake compares params as text, and another order would rerun jobs for nothing.
_sorted_config = key_sorted(dict(config))
config.clear()
config.update(_sorted_config)

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


def settings(section, drop=(), keep=None):
    """One validated config section (or the part of it a step reads) as the JSON its `--settings`
    takes: as a param, a change reruns exactly the steps that read it; the schema filled in
    every default."""
    return json.dumps({k: v for k, v in config[section].items()
                       if k not in drop and (keep is None or k in keep)}, sort_keys=True)
