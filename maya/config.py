"""Config schema location and validation outside Snakemake (tests, notebooks)."""

from __future__ import annotations

import copy
import functools
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


def key_sorted(value: Any) -> Any:
    """``value`` with every mapping's keys in sorted order (lists keep theirs)."""
    if isinstance(value, dict):
        return {k: key_sorted(value[k]) for k in sorted(value, key=str)}
    return [key_sorted(v) for v in value] if isinstance(value, list) else value


@functools.cache
def _schema() -> dict:
    import yaml

    return yaml.safe_load(Path(SCHEMA_PATH).read_text("utf-8"))


def section_defaults(section: str) -> dict[str, Any]:
    """The schema's defaults for one top-level section: the one place defaults are written, so
    library dataclasses take theirs from here instead of spelling them again."""
    props = _schema()["properties"][section]["properties"]
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


def section_settings(section: str, value: dict[str, Any] | None = None) -> dict[str, Any]:
    """``value`` (one config section, possibly partial, e.g. from a test or a notebook) validated
    against the schema with every default filled in, nested ones included; raises on a bad value."""
    from jsonschema import Draft202012Validator, validators

    base = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from base(validator, properties, instance, schema)

    filling = validators.extend(Draft202012Validator, {"properties": properties_with_defaults})
    data = copy.deepcopy(dict(value or {}))
    filling(_schema()["properties"][section]).validate(data)
    return data
