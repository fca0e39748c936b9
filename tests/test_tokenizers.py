"""Stage-1 BPE (NeMo format, all 12 scripts, zero <unk>, deterministic) and the balanced sample."""

import os
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from maya.corpus.demo import load_sentences
from maya.errors import MayaError
from maya.shard_schema import LANGUAGES
from maya.text.normalize import normalize_text
from maya.text.scripts import script_fraction
from maya.tokenizers import (
    load_gemma_tokenizer,
    plan_balanced_sample,
    script_fractions,
    text_hashes,
    train_bpe,
    unk_count,
    unk_count_file,
    write_sample,
)

# pandas' SipHash of "नमस्ते" (UTF-8) with its default key, fixed by this test.
NAMASTE_HASH = 4995449451691297106


@pytest.fixture(scope="module")
def texts():
    return {lang: sorted({normalize_text(s.text, lang) for s in load_sentences(lang)}) for lang in LANGUAGES}


@pytest.fixture(scope="module")
def train_parquet(tmp_path_factory, texts):
    """A train split's two columns: every sentence twice (two speakers), plus texts the filter drops."""
    rows = [(lang, t) for lang, ts in texts.items() for t in ts for _ in range(2)]
    rows += [("hi", "english words in a hindi row"), ("en", "x" * 401), ("ta", None), ("ta", "")]
    path = tmp_path_factory.mktemp("split") / "train.parquet"
    pq.write_table(
        pa.table({"language": [r[0] for r in rows], "text_norm": [r[1] for r in rows]}), path, row_group_size=500
    )
    return path


def _sample(train_parquet, tmp_path, plan):
    out = tmp_path / f"sample{len(list(tmp_path.iterdir()))}.txt"
    n = write_sample(train_parquet, plan, out, batch_rows=300)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == n
    return lines


def test_balanced_sample_follows_shares(train_parquet, texts, tmp_path):
    shares = {lang: (0.5 if lang == "en" else 0.5 / 11) for lang in texts}
    plan = plan_balanced_sample(train_parquet, shares, 2200, seed=1, batch_rows=300)
    lines = _sample(train_parquet, tmp_path, plan)
    assert len(lines) == 2200
    assert plan.stats["en"]["sampled"] == 1100 and plan.stats["as"]["sampled"] == 100
    assert plan.stats["en"]["distinct"] == len(texts["en"])  # duplicates counted once
    assert plan.stats["en"]["repeats"] > 1  # its distinct sentences repeated deterministically
    en = set(texts["en"])
    assert sum(line in en for line in lines) == 1100
    # Under its share, a language's sentences are all there, each about equally often.
    counts = Counter(line for line in lines if line in en)
    assert set(counts) == en and max(counts.values()) - min(counts.values()) <= 1
    # Over it (as: 100 of more), a seeded choice of distinct sentences.
    as_lines = [line for line in lines if line in set(texts["as"])]
    assert len(as_lines) == len(set(as_lines)) == 100
    again = plan_balanced_sample(train_parquet, shares, 2200, seed=1, batch_rows=1000)
    assert np.array_equal(again.rows, plan.rows) and again.stats == plan.stats
    other = plan_balanced_sample(train_parquet, shares, 2200, seed=2)
    assert not np.array_equal(other.rows, plan.rows)
    assert "english words in a hindi row" not in lines and "x" * 401 not in lines and "" not in lines
    with pytest.raises(MayaError):
        plan_balanced_sample(train_parquet, {}, 10, seed=1)


def test_whole_sample_is_every_distinct_text_once(train_parquet, texts, tmp_path):
    plan = plan_balanced_sample(train_parquet, dict.fromkeys(texts, 1.0), None, seed=3)
    lines = _sample(train_parquet, tmp_path, plan)
    assert sorted(lines) == sorted(t for ts in texts.values() for t in ts if t)


def test_column_kernels_match_the_per_text_functions(texts):
    sample = [t for ts in texts.values() for t in ts] + ["", "123", "abc \u0905", "x\u0301", "don't"]
    for lang in ("hi", "en", "ta", "bn"):
        got = script_fractions(pa.array(sample), lang)
        assert np.allclose(got, [script_fraction(t, lang) for t in sample]), lang
    h = text_hashes(pa.array(["a", "b", "a"]))
    assert h.dtype == np.uint64 and h[0] == h[2] != h[1]
    # Stable across processes and versions of this code: splits and samples must not move.
    assert int(text_hashes(pa.array(["नमस्ते"]))[0]) == NAMASTE_HASH


@pytest.fixture(scope="module")
def bpe(tmp_path_factory, texts):
    d = tmp_path_factory.mktemp("tok")
    sample = [t for ts in texts.values() for t in (ts * 3)[:250]]
    cwd = os.getcwd()
    os.chdir(d)  # the model records its (relative) paths: identical paths, identical bytes
    try:
        train_bpe(sample, "bpe", 1024, seed=5)
        first = (d / "bpe/tokenizer.model").read_bytes()
        train_bpe(sample, "bpe", 1024, seed=5)
    finally:
        os.chdir(cwd)
    return d / "bpe", first


def test_nemo_tokenizer_dir_format_and_determinism(bpe):
    out, first = bpe
    assert {p.name for p in out.iterdir()} >= {"tokenizer.model", "tokenizer.vocab", "vocab.txt"}
    assert (out / "tokenizer.model").read_bytes() == first


def test_round_trip_in_all_12_scripts_with_zero_unk(bpe, texts, tmp_path):
    from nemo.collections.common.tokenizers import SentencePieceTokenizer

    tok = SentencePieceTokenizer(str(bpe[0] / "tokenizer.model"))
    assert tok.vocab_size == 1024
    for lang in LANGUAGES:
        for s in texts[lang]:
            assert tok.ids_to_text(tok.text_to_ids(s)) == s, (lang, s)
    assert unk_count(bpe[0], [s for v in texts.values() for s in v]) == 0
    # A character never seen in training still round-trips (byte fallback), with no <unk>.
    unseen = "ঀ ൟ"
    assert tok.ids_to_text(tok.text_to_ids(unseen)) == unseen
    assert unk_count(bpe[0], [unseen]) == 0
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join([unseen, *texts["ml"]]) + "\n", encoding="utf-8")
    assert unk_count_file(bpe[0], lines, chunk=7) == 0


def test_gemma_source_errors_are_clear(tmp_path):
    with pytest.raises(MayaError, match="nothing is downloaded"):
        load_gemma_tokenizer("google/gemma-3-1b-pt")
    with pytest.raises(MayaError, match="does not exist"):
        load_gemma_tokenizer(str(tmp_path / "missing.gguf"))
