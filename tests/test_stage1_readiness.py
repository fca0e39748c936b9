"""The GPU readiness gate lists every problem at once, with the reason."""

import copy

import pytest

from maya.errors import MayaError
from maya.stage1.readiness import check
from tests.stage1_helpers import demo_config


def _stage1(**trainer):
    s1 = copy.deepcopy(demo_config()["stage1"])
    s1["trainer"].update(trainer)
    return s1


def test_cpu_config_with_artifacts_passes(tmp_path):
    art = tmp_path / "a.parquet"
    art.write_bytes(b"x")
    report = check(_stage1(), [str(art)], tmp_path / "ckpt", 1_000_000, cuda_devices=0)
    assert report["ok"] and report["artifacts"] == 1


def test_every_failure_is_listed(tmp_path):
    s1 = _stage1(accelerator="gpu", devices=8, max_steps=10_000_000, checkpoint_every_n_steps=1)
    s1["init"]["pretrained"] = str(tmp_path / "parakeet.nemo")
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(MayaError) as e:
        check(s1, [str(tmp_path / "missing.parquet"), str(empty)], tmp_path / "ckpt", 1_143_000_000, cuda_devices=2)
    msg = str(e.value)
    assert "GPUs: the trainer wants 8, 2 visible" in msg
    assert "disk:" in msg and "checkpoints need" in msg
    assert "missing.parquet" in msg and "empty.json" in msg
    assert "parakeet.nemo: pretrained weights not found" in msg


def test_unreadable_pretrained_file_is_named(tmp_path):
    bad = tmp_path / "bad.nemo"
    bad.write_bytes(b"not a tar")
    s1 = _stage1()
    s1["init"]["pretrained"] = str(bad)
    with pytest.raises(MayaError, match="bad.nemo: not a readable .nemo archive"):
        check(s1, [], tmp_path / "ckpt", 1000, cuda_devices=0)
