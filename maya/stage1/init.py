"""Encoder initialisation from a pretrained model (seed README: Parakeet-TDT-1.1B; build guide:
IndicConformer-600M or Canary-1B-flash), from a ``.nemo`` archive or an encoder state-dict ``.pt``.

Only parameters whose names match ``include`` and not ``exclude`` (fnmatch-style prefixes) are
taken; the new model's tokenizer, decoder and joint stay random, which is why no
``change_vocabulary`` is needed (and its TDT trap is avoided). Every skipped tensor is reported
with its reason (missing, shape mismatch, excluded).

Layer expansion (build guide §4.1): when the source has fewer Conformer layers than the target,
target layer ``i`` copies source layer ``round(i * (n_src - 1) / (n_tgt - 1))`` (``duplicate``) or a
linear blend of the two nearest source layers (``interpolate``).
"""

from __future__ import annotations

import fnmatch
import re
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from maya.errors import MayaError

_LAYER = re.compile(r"^(encoder\.layers\.)(\d+)(\..*)$")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Weights of a ``.nemo`` (its ``model_weights.ckpt``) or of a ``.pt``/``.ckpt`` state dict."""
    path = Path(path)
    if not path.exists():
        raise MayaError(
            f"{path}: pretrained weights not found (stage1.init.pretrained); nothing is downloaded, "
            "put the .nemo or encoder .pt there first"
        )
    if path.suffix == ".nemo":
        try:
            with tarfile.open(path) as tar:
                member = next((m for m in tar.getmembers() if m.name.endswith("model_weights.ckpt")), None)
                if member is None:
                    raise MayaError(f"{path}: not a NeMo archive (no model_weights.ckpt inside)")
                state = torch.load(tar.extractfile(member), map_location="cpu", weights_only=True)
        except tarfile.TarError as e:
            raise MayaError(f"{path}: not a readable .nemo archive ({e})") from e
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    return dict(state)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(name.startswith(p) or fnmatch.fnmatch(name, p) for p in patterns)


def expand_layers(src: Mapping[str, torch.Tensor], n_target: int, mode: str = "duplicate") -> dict[str, torch.Tensor]:
    """Source encoder layers mapped onto ``n_target`` layers (other tensors unchanged)."""
    layers = sorted({int(m.group(2)) for k in src if (m := _LAYER.match(k))})
    n_src = len(layers)
    if n_src == 0 or n_src == n_target:
        return dict(src)
    out = {k: v for k, v in src.items() if not _LAYER.match(k)}
    by_layer: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in src.items():
        if m := _LAYER.match(k):
            by_layer.setdefault(int(m.group(2)), {})[m.group(3)] = v
    for i in range(n_target):
        pos = i * (n_src - 1) / max(1, n_target - 1)
        lo = int(pos)
        hi = min(lo + 1, n_src - 1)
        w = pos - lo
        for suffix, v in by_layer[layers[lo]].items():
            if mode == "interpolate" and w > 0 and v.is_floating_point():
                v = (1 - w) * v + w * by_layer[layers[hi]][suffix]
            elif mode == "duplicate":
                v = by_layer[layers[round(pos)]][suffix]
            out[f"encoder.layers.{i}{suffix}"] = v.clone()
    return out


def init_from_pretrained(
    model: torch.nn.Module,
    path: str | Path,
    include: Sequence[str] = ("encoder.",),
    exclude: Sequence[str] = (),
    expand: str | None = None,
) -> dict:
    """Copy matching weights into ``model``; returns a report (loaded, skipped with reasons)."""
    src = load_state_dict(path)
    if not any(k.startswith("encoder.") for k in src) and any(k.startswith(("layers.", "pre_encode.")) for k in src):
        src = {f"encoder.{k}": v for k, v in src.items()}  # a bare encoder state dict
    target = model.state_dict()
    n_target = len({int(m.group(2)) for k in target if (m := _LAYER.match(k))})
    if expand:
        src = expand_layers(src, n_target, expand)
    loaded, skipped = [], []
    new_state = {}
    for name, tensor in src.items():
        if not _matches(name, include):
            continue
        if exclude and _matches(name, exclude):
            skipped.append({"name": name, "reason": "excluded"})
            continue
        if name not in target:
            skipped.append({"name": name, "reason": "not in the new model"})
            continue
        if tuple(target[name].shape) != tuple(tensor.shape):
            skipped.append({"name": name, "reason": f"shape {tuple(tensor.shape)} != {tuple(target[name].shape)}"})
            continue
        new_state[name] = tensor.to(target[name].dtype)
        loaded.append(name)
    param_names = {n for n, _ in model.named_parameters()}
    if not any(n in param_names for n in loaded):  # batch-norm counters alone always "match"
        raise MayaError(
            f"{path}: no tensor matched include={list(include)} with the right shape "
            f"({len(skipped)} skipped, e.g. {skipped[:3]})"
        )
    model.load_state_dict(new_state, strict=False)
    wanted = [k for k in target if _matches(k, include) and not (exclude and _matches(k, exclude))]
    return {
        "source": str(path),
        "loaded": len(loaded),
        "skipped": skipped,
        "not_initialised": sorted(set(wanted) - set(loaded)),
        "loaded_parameters": int(sum(src[k].numel() for k in loaded)),
    }
