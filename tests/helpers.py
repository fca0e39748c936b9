"""Helpers for tests that run Snakemake on a copy of the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
_IGNORE = shutil.ignore_patterns(
    ".venv",
    ".git",
    "results",
    "reports",
    "logs",
    ".snakemake",
    "__pycache__",
    ".pytest_cache",
    "*.egg-info",
)

TINY_CONFIG = {
    "languages": ["en", "hi", "ta"],
    "demo_corpus": {"clips_per_shard": 10, "shards_per_language": 1, "speakers_per_language": 2},
    "stage1": {
        "trainer": {"max_steps": 4, "val_check_interval": 2, "checkpoint_every_n_steps": 2, "log_every_n_steps": 1}
    },
    # The demo also decodes without the language hint (*_nohint); two decoders keep the tests short.
    # Stage 1 only: Stages 2 and 3 have their own module (test_stage2_workflow.py).
    "eval": {"decoders": ["tdt_greedy", "ctc_greedy"], "stages": ["stage1"]},
}


def copy_repo(dest: Path) -> Path:
    """The repo's sources (no venv, results or Snakemake state) at ``dest``."""
    shutil.copytree(REPO, dest, ignore=_IGNORE, symlinks=True)
    return dest


def write_config(path: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(overrides, allow_unicode=True))
    return path


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 900, env: dict | None = None
) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}) in {workdir}:\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def kill_snakemake_at(workdir: Path, path: Path, *args: str, timeout: int = 600) -> None:
    """Start Snakemake with ``args`` and SIGKILL its whole process group once ``path`` exists (a
    checkpoint mid-training): the hard stop a preempted node or an out-of-memory kill gives."""
    import os
    import signal
    import time

    proc = subprocess.Popen(
        [SNAKEMAKE, *args], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and not path.exists():
            assert proc.poll() is None, "training ended before it could be killed"
            time.sleep(0.5)
        assert path.exists(), f"no {path.name} within {timeout} s"
        time.sleep(1.0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count that `snakemake -n` would run (empty when nothing is to be done)."""
    out = snakemake(workdir, "-n", *args)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    m = re.search(r"Job stats:\n(.*?)\ntotal\s+\d+", text, re.S)
    assert m, f"no job stats in dry-run output:\n{text[-3000:]}"
    jobs = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs
