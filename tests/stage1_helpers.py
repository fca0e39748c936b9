"""Small Stage-1 models for tests: random weights, the real NeMo classes, the real config path."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from maya.config import validate_config
from tests.helpers import REPO

LANGS = ["en", "hi", "ta"]


def demo_config(**model) -> dict:
    cfg = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    cfg = copy.deepcopy(cfg)
    cfg["languages"] = LANGS
    cfg["stage1"]["model"].update(
        {
            "n_layers": 2,
            "d_model": 32,
            "n_heads": 2,
            "pred_hidden": 32,
            "joint_hidden": 32,
            "subsampling_conv_channels": 16,
            **model,
        }
    )
    return cfg


def tokenizer_dir(root: Path) -> Path:
    from maya.tokenizers import train_bpe

    out = root / "bpe"
    if not (out / "tokenizer.model").exists():
        text = []
        for lang in LANGS:
            lines = (REPO / "maya" / "data" / "demo_text" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
            text += [line for line in lines if line.strip() and not line.startswith("#")]
        train_bpe(text, out, 512)
    return out


def build(root: Path, **model):
    from maya.stage1.train import build_model

    return build_model(demo_config(**model), tokenizer_dir(root))
