"""WER/CER scoring: against NeMo's independent implementation, bootstrap CIs, confusions, report."""

import random

import numpy as np
import pytest

from maya.evaluation import score_hypotheses, summary_rows
from maya.scoring import bootstrap_ci, error_rates, normalise_for_scoring, top_confusions, utterance_counts


def _pairs(seed=0, n=60):
    rng = random.Random(seed)
    vocab = ["नमस्ते", "दुनिया", "आज", "मौसम", "अच्छा", "है", "the", "cat", "sat", "on", "mat", "বাংলা", "ভাষা"]
    refs, hyps = [], []
    for _ in range(n):
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 9))]
        hyp = []
        for w in ref:
            r = rng.random()
            if r < 0.1:
                continue  # deletion
            hyp.append(rng.choice(vocab) if r < 0.25 else w)
            if rng.random() < 0.05:
                hyp.append(rng.choice(vocab))  # insertion
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp))
    hyps[3] = ""
    return refs, hyps


def test_wer_and_cer_match_nemo_word_error_rate():
    from nemo.collections.asr.metrics.wer import word_error_rate

    refs, hyps = _pairs()
    ours = error_rates(refs, hyps)
    assert ours["wer"] == pytest.approx(word_error_rate(hyps, refs), abs=1e-12)

    # NeMo's CER counts spaces as characters; compare on texts without spaces.
    def nospace(xs):
        return ["".join(x.split()) for x in xs]

    assert ours["cer"] == pytest.approx(word_error_rate(nospace(hyps), nospace(refs), use_cer=True), abs=1e-12)
    assert ours["word_substitutions"] + ours["word_deletions"] + ours["word_insertions"] > 0


def test_counts_are_consistent_and_empty_hypothesis_is_all_deletions():
    c = utterance_counts(["a b c"], [""])
    assert c.tolist() == [[0, 3, 0, 3, 0, 3, 0, 3]]
    assert error_rates(["a b c"], ["a x c d"])["wer"] == pytest.approx(2 / 3)


def test_bootstrap_ci_brackets_the_estimate_and_is_seeded():
    refs, hyps = _pairs(1, 200)
    counts = utterance_counts(refs, hyps)
    est = error_rates(refs, hyps)
    ci = bootstrap_ci(counts, 500, seed=3)
    assert ci["wer_ci"][0] < est["wer"] < ci["wer_ci"][1]
    assert ci["cer_ci"][0] < est["cer"] < ci["cer_ci"][1]
    assert ci == bootstrap_ci(counts, 500, seed=3)
    narrow = bootstrap_ci(np.concatenate([counts] * 10), 500, seed=3)
    assert narrow["wer_ci"][1] - narrow["wer_ci"][0] < ci["wer_ci"][1] - ci["wer_ci"][0]


def test_scoring_normalises_like_the_tokenizer_corpus():
    assert normalise_for_scoring("Hello, World!") == "hello world"
    assert normalise_for_scoring("नमस्ते।  दुनिया") == "नमस्ते दुनिया"
    assert error_rates([normalise_for_scoring("The cat.")], [normalise_for_scoring("the CAT")])["wer"] == 0


def test_top_confusions_counts_substitutions():
    conf = top_confusions(["a b c", "a b c", "x b"], ["a d c", "a d c", "x e"])
    assert conf[0] == {"ref": "b", "hyp": "d", "count": 2}


def test_per_language_scores_and_summary_rows():
    refs, hyps = _pairs(2, 40)
    records = [
        {"lang": "hi" if i % 2 else "en", "ref": r, "hyp": h, "seconds": 1.5}
        for i, (r, h) in enumerate(zip(refs, hyps, strict=True))
    ]
    s = score_hypotheses(records, bootstrap_samples=100, seed=1)
    assert set(s["languages"]) == {"en", "hi"}
    assert s["languages"]["hi"]["utterances"] == 20
    rows = summary_rows("stage1", "heldout", "tdt_greedy", s, {"rtfx": 12.5, "device": "cpu", "batch_size": 8})
    assert {r["language"] for r in rows} == {"en", "hi"} and all(r["rtfx"] == 12.5 for r in rows)
    assert s["macro_average"]["wer"] == pytest.approx(np.mean([s["languages"][lang]["wer"] for lang in ("en", "hi")]))
