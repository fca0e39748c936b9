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
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "workflow_scripts/model_summary.py"),
            "--json",
            "--configfile",
            str(REPO / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 < counts["total"] < 5e6 and counts["lang_embedding"] == 12 * 96
    assert counts["memory"]["configured_token_cap"] == 600 and counts["memory"]["predicted_token_cap"] > 0


def test_production_stage2_network_is_sized_from_gemma3_1b():
    from maya.stage2.llm import stage2_summary

    cfg = config("config.yaml", "config/prod.yaml")
    s = stage2_summary(1024, 1, cfg["stage2"]["llm"], 1 + len(cfg["languages"]), cfg["stage2"]["projection_downsample"])
    assert s["llm_hidden_size"] == 1152 and s["llm_layers"] == 26  # not the build guide's 1536
    c = s["counts"]
    d, h = 1024, 1152  # Conv1d(d, d, 2) -> LayerNorm(d) -> Linear(d, h) -> SiLU -> Linear(h, h)
    assert c["projection"] == (d * d * 2 + d) + 2 * d + (d * h + h) + (h * h + h)
    assert c["llm_embedding"] == (262144 + 13) * h  # tied with the output layer, counted once
    assert c["llm_embedding"] + c["llm_other"] == pytest.approx(1.0e9, rel=0.01)  # Gemma 3 1B
