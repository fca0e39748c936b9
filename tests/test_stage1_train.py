"""Run directories across kills (maya/stage1/train.py, shared by Stages 2 and 3): a checkpoint cut
short by the kill is never resumed from."""

import torch

from maya.stage1.train import latest_checkpoint, prepare_run_dir


def _save(path, step):
    torch.save({"global_step": step, "w": torch.zeros(1000)}, path)


def test_resume_takes_the_newest_complete_checkpoint(tmp_path):
    ckpts = prepare_run_dir(tmp_path / "run", "key") / "checkpoints"
    assert latest_checkpoint(ckpts) is None
    for step in (2, 4):
        _save(ckpts / f"step{step:07d}.ckpt", step)
    assert latest_checkpoint(ckpts) == ckpts / "step0000004.ckpt"  # no last.ckpt yet
    _save(ckpts / "last.ckpt", 4)
    assert latest_checkpoint(ckpts) == ckpts / "last.ckpt"
    # Killed while writing last.ckpt at step 6: step 6 is complete, last.ckpt is cut short.
    _save(ckpts / "step0000006.ckpt", 6)
    data = (ckpts / "step0000006.ckpt").read_bytes()
    (ckpts / "last.ckpt").write_bytes(data[: len(data) // 2])
    assert latest_checkpoint(ckpts) == ckpts / "step0000006.ckpt"
    # Killed while writing step 8: the newest complete one is still step 6.
    (ckpts / "step0000008.ckpt").write_bytes(data[:100])
    assert latest_checkpoint(ckpts) == ckpts / "step0000006.ckpt"
    assert torch.load(latest_checkpoint(ckpts))["global_step"] == 6


def test_changed_run_key_moves_the_old_run_aside(tmp_path):
    run = prepare_run_dir(tmp_path / "run", "a")
    _save(run / "checkpoints" / "last.ckpt", 3)
    assert latest_checkpoint(prepare_run_dir(tmp_path / "run", "a") / "checkpoints") is not None
    assert latest_checkpoint(prepare_run_dir(tmp_path / "run", "b") / "checkpoints") is None
    assert len(list(tmp_path.glob("run.stale-*"))) == 1
