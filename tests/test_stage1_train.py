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


def test_srun_ranks_started_together_move_a_stale_run_aside_once(tmp_path):
    """srun starts every rank at once (Lightning's own launcher starts the others only after rank 0
    has prepared): rank 0 alone moves the old run aside; the others wait for it, then share the new one."""
    import contextlib
    import os
    import subprocess
    import sys

    from tests.helpers import REPO

    run = prepare_run_dir(tmp_path / "run", "old")
    _save(run / "checkpoints" / "last.ckpt", 3)
    code = "import sys; from pathlib import Path; from maya.stage1.train import prepare_run_dir; "
    code += "print(prepare_run_dir(Path(sys.argv[1]), 'new'))"
    env = {**os.environ, "PYTHONPATH": str(REPO), "SLURM_JOB_ID": "7", "SLURM_STEP_ID": "0"}
    env["SLURM_STEP_NUM_TASKS"] = "3"

    def start(rank):
        return subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "run")],
            env={**env, "SLURM_PROCID": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    ranks = [start(2), start(1)]
    # Ranks 1 and 2 alone (importing torch takes a few seconds): they touch nothing, they wait.
    with contextlib.suppress(subprocess.TimeoutExpired):
        ranks[0].wait(timeout=12)
    assert all(p.poll() is None for p in ranks), [p.communicate() for p in ranks]
    assert not list(tmp_path.glob("run.stale-*")) and (tmp_path / "run/run_key").read_text() == "old"
    ranks.append(start(0))
    outs = [p.communicate(timeout=120) for p in ranks]
    assert all(p.returncode == 0 for p in ranks), outs
    assert {o.strip() for o, _ in outs} == {str(tmp_path / "run")}
    (stale,) = tmp_path.glob("run.stale-*")
    assert (stale / "checkpoints/last.ckpt").exists() and (stale / "run_key").read_text() == "old"
    assert (tmp_path / "run/run_key").read_text() == "new"
    assert latest_checkpoint(tmp_path / "run/checkpoints") is None
