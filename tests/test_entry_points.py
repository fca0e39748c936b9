"""Every entry point has a --help, and input problems end in one readable line."""

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO

SCRIPTS = sorted(p.name for p in (REPO / "workflow_scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    proc = subprocess.run(
        [sys.executable, str(REPO / "workflow_scripts" / script), "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and len(proc.stdout.splitlines()) > 3


def test_missing_corpus_root_is_one_clear_line(tmp_path):
    corpus = json.dumps({"name": "prod", "format": "final_export", "root": str(tmp_path / "nope")})
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "workflow_scripts/list_shards.py"),
            "--corpus-json",
            corpus,
            "--languages",
            "hi",
            "--output",
            str(tmp_path / "x.tsv"),
            "--skipped",
            str(tmp_path / "x.json"),
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: corpus root {tmp_path / 'nope'} does not exist or is not a directory"
