"""The shared text normalisation, with real characters of every language."""

import random
from pathlib import Path

import pyarrow as pa
import pytest

from maya.corpus.demo import load_sentences
from maya.shard_schema import LANGUAGES
from maya.text.normalize import normalize_array, normalize_text

NORMALISATION_CASES = [
    # Devanagari: precomposed and decomposed nukta are one string; danda and digits.
    ("hi", "\u095b\u0930\u093e \u0926\u0947\u0916\u094b\u0964", "\u091c\u093c\u0930\u093e \u0926\u0947\u0916\u094b"),
    ("hi", "\u091c\u093c\u0930\u093e \u0926\u0947\u0916\u094b", "\u091c\u093c\u0930\u093e \u0926\u0947\u0916\u094b"),
    ("hi", "कीमत १० प्रतिशत | कम॥", "कीमत 10 प्रतिशत कम"),
    ("mr", "साडेनऊ वाजता, बैठक सुरू होते!", "साडेनऊ वाजता बैठक सुरू होते"),
    # Bengali/Assamese: য় precomposed vs য + nukta; khanda ta written with ZWJ; Bengali digits.
    ("bn", "\u09df\u09be\u09a4\u09cd\u09b0\u09be", "\u09af\u09bc\u09be\u09a4\u09cd\u09b0\u09be"),
    ("bn", "উ\u09a4\u09cd\u200dস\u09ac", "উ\u09ceস\u09ac"),
    ("as", "৩ নৱেম্বৰত।", "3 নৱেম্বৰত"),
    # Gurmukhi: ਸ਼ precomposed (U+0A36) vs ਸ + nukta; Gurmukhi digits.
    ("pa", "\u0a36\u0a39\u0a3f\u0a30 \u0a67\u0a68", "\u0a38\u0a3c\u0a39\u0a3f\u0a30 12"),
    # Odia: ଡ଼ precomposed vs decomposed; Odia digits.
    ("or", "\u0b5c\u0b3f \u0b6b", "\u0b21\u0b3c\u0b3f 5"),
    # Tamil two-part vowel sign composes; Tamil digits.
    ("ta", "\u0b95\u0bc6\u0bbe\u0b9f\u0bc1 \u0be8\u0be6", "\u0b95\u0bca\u0b9f\u0bc1 20"),
    # Malayalam: chillu written with virama + ZWJ is the atomic chillu; ZWNJ dropped.
    ("ml", "അവ\u0d28\u0d4d\u200d വന്നു", "അവ\u0d7b വന്നു"),
    ("ml", "കാര്\u200cയം", "കാര്യം"),
    ("gu", "૧૨ વિદ્યાર્થીઓ, હા!", "12 વિદ્યાર્થીઓ હા"),
    ("te", "౪౨ ఇల్లు.", "42 ఇల్లు"),
    ("kn", "೫ ಕಿಲೋಮೀಟರ್?", "5 ಕಿಲೋಮೀಟರ್"),
    # English: case, apostrophes inside words only, curly quotes, Arabic-Indic digits.
    ("en", "Don\u2019t STOP \u2018now\u2019, it\u2019s 9 o'clock!", "don't stop now it's 9 o'clock"),
    ("en", "\u0663 apples", "3 apples"),
    ("en", "  many\t\n spaces\u00a0here ", "many spaces here"),
]


@pytest.mark.parametrize("lang, raw, expected", NORMALISATION_CASES)
def test_normalisation(lang, raw, expected):
    assert normalize_text(raw, lang) == expected


def test_punctuation_only_becomes_empty():
    assert normalize_text("।। ... ?!", "hi") == ""


def test_options_keep_punctuation_and_digits():
    assert normalize_text("कीमत १०।", "hi", punctuation="keep", digits="keep") == "कीमत १०।"
    with pytest.raises(ValueError):
        normalize_text("x", "en", punctuation="drop")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_idempotent_and_nonempty_on_real_sentences(lang):
    for s in load_sentences(lang):
        once = normalize_text(s.text, lang)
        assert once and normalize_text(once, lang) == once


SHARED_TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text_pool"
TRICKY = (
    "a'b'c'd don't ' x' 'y ।|॥,.!?\u200d\u200c\u0d28\u0d4d\u200d ०१२৩৪٣ İ ẞ Σσς ǅ "
    "\u00a0\u2003\u3000\x1c\t\n க் \u2019s\ufdd0😀\u00ad"
)


def _column_cases():
    rng = random.Random(7)
    cases = [raw for _, raw, _ in NORMALISATION_CASES] + [s.text for lang in LANGUAGES for s in load_sentences(lang)]
    cases += ["".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 24))) for _ in range(3000)]
    # Random code points of the Basic Multilingual Plane (no surrogates): Unicode-table differences.
    cases += [
        "".join(
            chr(rng.choice([rng.randint(32, 0xD7FF), rng.randint(0xE000, 0xFFFF)])) for _ in range(rng.randint(0, 10))
        )
        for _ in range(5000)
    ]
    return cases + [None]


@pytest.mark.parametrize("options", [{}, {"punctuation": "keep"}, {"digits": "keep", "lowercase": False}])
def test_column_normalisation_equals_the_per_text_function(options):
    cases = _column_cases()
    got = normalize_array(pa.array(cases), "hi", **options).to_pylist()
    assert got == [normalize_text(c or "", "hi", **options) for c in cases]


def test_column_normalisation_on_real_sentences_of_ten_languages():
    files = sorted(SHARED_TEXT.glob("*")) if SHARED_TEXT.is_dir() else []
    if not files:
        pytest.skip(f"{SHARED_TEXT} is absent (reference text, not part of the repo)")
    for f in files:
        texts = [line.split("\t", 1)[-1] for line in f.read_text(encoding="utf-8").splitlines()]
        assert normalize_array(pa.array(texts)).to_pylist() == [normalize_text(t) for t in texts], f.name
