"""Stage-1 BPE (NeMo format, all 12 scripts, zero <unk>, deterministic) and the balanced sample."""

import os

import pytest

from maya.corpus.demo import load_sentences
from maya.errors import MayaError
from maya.shard_schema import LANGUAGES
from maya.text.normalize import normalize_text
from maya.tokenizers import balanced_sample, load_gemma_tokenizer, train_bpe, unk_count


@pytest.fixture(scope="module")
def texts():
    return {lang: sorted({normalize_text(s.text, lang) for s in load_sentences(lang)}) for lang in LANGUAGES}


def test_balanced_sample_follows_shares(texts):
    shares = {lang: (0.5 if lang == "en" else 0.5 / 11) for lang in texts}
    sample, stats = balanced_sample(texts, shares, 2200, seed=1)
    assert len(sample) == 2200
    assert stats["en"]["sampled"] == 1100 and stats["as"]["sampled"] == 100
    assert stats["en"]["repeats"] > 1  # 160 distinct sentences repeated deterministically
    assert balanced_sample(texts, shares, 2200, seed=1) == (sample, stats)
    with pytest.raises(MayaError):
        balanced_sample(texts, {}, 10, seed=1)


@pytest.fixture(scope="module")
def bpe(tmp_path_factory, texts):
    d = tmp_path_factory.mktemp("tok")
    sample, _ = balanced_sample(texts, {lang: 1.0 for lang in texts}, 3000, seed=2)
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


def test_round_trip_in_all_12_scripts_with_zero_unk(bpe, texts):
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


def test_gemma_source_errors_are_clear(tmp_path):
    with pytest.raises(MayaError, match="nothing is downloaded"):
        load_gemma_tokenizer("google/gemma-3-1b-pt")
    with pytest.raises(MayaError, match="does not exist"):
        load_gemma_tokenizer(str(tmp_path / "missing.gguf"))
