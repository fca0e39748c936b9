"""The production Stage-1 network matches the seed README's parameter table (meta device)."""

import json
import subprocess
import sys

import pytest
import yaml

from maya.config import deep_update, validate_config
from maya.stage1.modules import model_summary
from tests.helpers import REPO


def config(*files):
    cfg = {}
    for f in files:
        cfg = deep_update(cfg, yaml.safe_load((REPO / f).read_text()))
    return validate_config(cfg)


def test_production_network_matches_the_readme_table():
    cfg = config("config.yaml", "config/prod.yaml")
    c = model_summary(cfg["stage1"]["model"], cfg["tokenizer"]["vocab_size"], len(cfg["languages"]))
    # Seed README: encoder ~1,062M, TDT decoder ~7M + joint ~42M (it counts the 20.5M prediction
    # embedding with the joint), CTC head ~33M, language embedding ~12K, total ~1,144M.
    assert c["encoder"] == pytest.approx(1062e6, rel=0.03)
    assert c["decoder"] + c["joint"] == pytest.approx(49e6, rel=0.03)
    assert c["ctc_decoder"] == pytest.approx(33e6, rel=0.03)
    assert c["lang_embedding"] == 12 * 1024
    assert c["total"] == pytest.approx(1144e6, rel=0.03)


def test_entry_point_prints_the_demo_network():
    proc = subprocess.run([sys.executable, str(REPO / "workflow_scripts/model_summary.py"), "--json",
                           "--configfile", str(REPO / "config.yaml")], capture_output=True, text=True,
                          cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 < counts["total"] < 5e6 and counts["lang_embedding"] == 12 * 96
    assert counts["memory"]["configured_token_cap"] == 600 and counts["memory"]["predicted_token_cap"] > 0
