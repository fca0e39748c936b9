"""Config schema location and validation outside Snakemake (tests, notebooks)."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_PATH = str(Path(str(resources.files("maya") / "schemas" / "config.schema.yaml")))


def deep_update(base: dict, overlay: dict) -> dict:
    """Recursive dict update the way Snakemake layers --configfile over configfile:."""
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate in place against the schema, filling defaults; raises on a bad key or value."""
    from snakemake.utils import validate

    validate(config, SCHEMA_PATH, set_default=True)
    return config
