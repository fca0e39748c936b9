"""The Stage-2 GPU readiness gate: the shared checks and Stage 2's own (the LLM directory, DeepSpeed,
bf16), every failure listed at once with the file or setting it concerns."""

import copy

import pytest

from maya.errors import MayaError
from maya.stage2.readiness import check
from tests.stage1_helpers import demo_config


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    from maya.stage2.llm import save_llm

    out = tmp_path_factory.mktemp("llm")
    save_llm("tiny-random:1x32", out)
    return out


def _settings(**trainer):
    cfg = copy.deepcopy(demo_config())
    cfg["stage2"]["trainer"].update(trainer)
    return {"stage2": cfg["stage2"], "stage3": cfg["stage3"], "languages": cfg["languages"]}


def test_cpu_config_with_an_llm_passes(tmp_path, llm_dir):
    art = tmp_path / "train_clips.arrow"
    art.write_bytes(b"x")
    report = check(
        _settings(), "stage2b", llm_dir, [str(art), str(llm_dir)], tmp_path / "ckpt", 10_000_000, cuda_devices=0
    )
    assert report["ok"] and report["artifacts"] == 2
    assert (report["llm_hidden_size"], report["llm_layers"]) == (32, 1)


def test_every_failure_is_listed(tmp_path, llm_dir):
    no_weights = tmp_path / "llm"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((llm_dir / "config.json").read_text())
    s = _settings(
        accelerator="gpu", devices=8, precision="bf16-mixed", strategy="deepspeed", checkpoint_every_n_steps=1
    )
    s["stage2"]["stage2b"]["max_steps"] = 10_000_000
    with pytest.raises(MayaError) as e:
        check(
            s,
            "stage2b",
            no_weights,
            [str(tmp_path / "missing.ckpt")],
            tmp_path / "ckpt",
            2_066_000_000,
            cuda_devices=2,
            bf16=False,
        )
    msg = str(e.value)
    assert msg.startswith("Stage-2b readiness failed")
    assert "GPUs: the trainer wants 8, 2 visible" in msg
    assert "disk:" in msg and "checkpoints need" in msg
    assert "missing.ckpt" in msg
    assert f"LLM: {no_weights} has no weights" in msg
    assert "bf16: stage2.trainer.precision is bf16-mixed but the GPUs do not support bf16" in msg


def test_an_llm_directory_without_config_is_named(tmp_path):
    with pytest.raises(MayaError, match=f"LLM: {tmp_path} has no readable config.json"):
        check(_settings(), "stage2a", tmp_path, [], tmp_path / "ckpt", 1000, cuda_devices=0)
