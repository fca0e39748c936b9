"""Readiness gate before Stage 2a / 2b / 3 on GPUs: the shared checks (``maya.readiness``: GPUs,
disk, artifacts) and Stage 2's own: the LLM directory loads as a causal LM config with weights
beside it, DeepSpeed imports when the strategy asks for it, and the GPUs support bf16 when the
precision asks for it. Raises one ``MayaError`` listing every failure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from maya.readiness import conclude, shared_checks
from maya.stage2.train import max_steps_for

WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin")


def llm_checks(llm_dir: str | Path) -> tuple[list[str], dict]:
    from transformers import AutoConfig

    llm = Path(llm_dir)
    try:
        cfg = AutoConfig.from_pretrained(llm)
    except Exception as e:  # a missing, empty or corrupt config.json: transformers raises many kinds
        return [f"LLM: {llm} has no readable config.json ({type(e).__name__}: {str(e).splitlines()[0]})"], {}
    report = {"llm_hidden_size": cfg.hidden_size, "llm_layers": cfg.num_hidden_layers}
    if not any(p.stat().st_size > 0 for pattern in WEIGHT_FILES for p in llm.glob(pattern)):
        return [f"LLM: {llm} has no weights ({' or '.join(WEIGHT_FILES)})"], report
    return [], report


def check(
    settings: Mapping,
    stage: str,
    llm_dir: str | Path,
    artifacts: Sequence[str],
    checkpoint_dir: str | Path,
    n_params: int,
    cuda_devices: int | None = None,
    bf16: bool | None = None,
    storage: Mapping | None = None,
    plan: Mapping | None = None,
) -> dict:
    """``settings`` as training reads them (stage2, stage3, languages); ``n_params`` for the disk estimate."""
    import torch

    tr = settings["stage2"]["trainer"]
    failures, report = shared_checks(
        tr, max_steps_for(settings, stage), artifacts, checkpoint_dir, n_params, cuda_devices, storage, plan
    )
    more, llm = llm_checks(llm_dir)
    failures += more
    report.update(llm)
    if tr["strategy"] == "deepspeed":
        try:
            import deepspeed

            report["deepspeed"] = deepspeed.__version__
        except Exception as e:  # ImportError, or a broken build raising anything at import
            failures.append(
                f"DeepSpeed: stage2.trainer.strategy is deepspeed but it does not import ({type(e).__name__}: {e})"
            )
    if tr["precision"].startswith("bf16") and tr["accelerator"] == "gpu" and report["gpus_visible"]:
        supported = torch.cuda.is_bf16_supported() if bf16 is None else bf16
        if not supported:
            failures.append(f"bf16: stage2.trainer.precision is {tr['precision']} but the GPUs do not support bf16")
    return conclude(f"Stage-{stage.removeprefix('stage')}", failures, report)
