"""Scoring comparable with the published numbers: Vistaar's normalisation (evaluation.py's steps),
corpus-level jiwer WER/CER, the language table, and the published baselines."""

import string

import pytest

from maya.benchmarks import PUBLISHED, language_code, published_wer, vistaar_normalize, vistaar_scores


def test_vistaar_steps_on_its_own_terms():
    # Punctuation (ASCII, danda, double danda, Urdu full stop, apostrophe, hyphen) removed, spaces collapsed,
    # leading/trailing ones kept (jiwer strips them when it scores).
    assert vistaar_normalize("नमस्ते, दुनिया। कैसे   हो?", "hi") == "नमस्ते दुनिया कैसे हो"
    assert vistaar_normalize("- well-known ॥", "en") == " wellknown "
    assert all(ch not in vistaar_normalize(string.punctuation + "।॥۔", "ta") for ch in string.punctuation)


def test_indic_normaliser_applies_zwj_nukta_and_quotes():
    from indicnlp.normalize.indic_normalize import IndicNormalizerFactory

    for text, lang in [
        ("क\u093cमल", "hi"),  # decomposed nukta
        ("র\u200dয", "bn"),  # ZWJ
        ("ക്\u200dക", "ml"),  # ZWJ in a chillu sequence
        ("“उद्धरण”", "mr"),  # curly quotes: not in string.punctuation
        ("ਪੰਜਾਬੀ\u200c", "pa"),  # ZWNJ
    ]:
        expected = IndicNormalizerFactory().get_normalizer(lang).normalize(text)
        assert vistaar_normalize(text, lang) == expected  # exactly the library's output, no more
    # evaluation.py removes punctuation before IndicNLP turns curly quotes into straight ones, so
    # straight quotes survive into the scored text: reproduced, not corrected.
    assert vistaar_normalize("“उद्धरण”", "mr") == '"उद्धरण"'


def test_corpus_level_scores_are_jiwers_on_normalised_text():
    import jiwer

    refs, hyps = ["एक दो तीन।", "चार पांच"], ["एक दो", "चार पांच छह"]
    got = vistaar_scores(refs, hyps, "hi")
    assert got["wer"] == pytest.approx(jiwer.wer(["एक दो तीन", "चार पांच"], ["एक दो", "चार पांच छह"]))
    assert got["wer"] == pytest.approx(2 / 5)  # corpus level: 2 errors over 5 reference words
    assert got["cer"] == pytest.approx(jiwer.cer(["एक दो तीन", "चार पांच"], ["एक दो", "चार पांच छह"]))


def test_languages_and_published_baselines():
    assert [language_code(x) for x in ("Hindi", "odia", "oriya", "pa-IN", "hi_in", "en_us", "klingon")] == [
        "hi",
        "or",
        "or",
        "pa",
        "hi",
        "en",
        None,
    ]
    assert published_wer("kathbath", "hi") == 10.3 and published_wer("fleurs", "hi") == 15.0
    assert published_wer("common_voice", "gu") is None  # not published: the report says so
    assert set(PUBLISHED["wer"]) == {"kathbath", "kathbath_hard", "common_voice", "fleurs"}
