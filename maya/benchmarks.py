"""The public benchmarks Indic ASR teams report, and scoring them the way the published numbers were.

- ``language_code``: one table from the names and locales the benchmarks use (``hindi``, ``odia``,
  ``hi_in``, ``pa-IN``, ...) to our codes.
- ``vistaar_normalize``: the steps of Vistaar's ``evaluation.py`` (AI4Bharat), which produced
  IndicWhisper's published WERs: remove ``string.punctuation + "।۔'-॥"``, apply the IndicNLP
  normaliser of the language (``indic-nlp-library``; not for Urdu, and not for English, which
  ``evaluation.py`` would fail on: it has no IndicNLP normaliser), collapse runs of spaces (leading
  and trailing spaces stay: jiwer strips them when it scores).
- ``vistaar_scores``: corpus-level WER with ``jiwer.wer`` and CER with ``jiwer.cer`` on those strings,
  as ``evaluation.py`` computes them (its CER counts spaces; ours does not).
- ``PUBLISHED``: IndicWhisper's WER (%) per benchmark and language, from the Vistaar README's first
  table (its second table, Hindi across systems, has the FLEURS and CommonVoice columns the other
  way round: 11.4 is CommonVoice in the first).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Sequence

# Language names (Kathbath, IndicVoices, Vistaar folders), FLEURS configs and Common Voice locales.
_NAMES = {
    "as": ("assamese", "as_in", "as"),
    "bn": ("bengali", "bangla", "bn_in", "bn"),
    "en": ("english", "en_us", "en_in", "en"),
    "gu": ("gujarati", "gu_in", "gu-in", "gu"),
    "hi": ("hindi", "hi_in", "hi"),
    "kn": ("kannada", "kn_in", "kn"),
    "ml": ("malayalam", "ml_in", "ml"),
    "mr": ("marathi", "mr_in", "mr"),
    "or": ("odia", "oriya", "or_in", "or"),
    "pa": ("punjabi", "panjabi", "pa_in", "pa-in", "pa"),
    "ta": ("tamil", "ta_in", "ta"),
    "te": ("telugu", "te_in", "te"),
}
LANGUAGE_CODES = {alias: code for code, aliases in _NAMES.items() for alias in aliases}
FLEURS_CONFIG = {code: f"{code}_in" if code != "en" else "en_us" for code in _NAMES}
KATHBATH_NAME = {code: aliases[0] for code, aliases in _NAMES.items()}


def language_code(name: str | None) -> str | None:
    """Our code for a benchmark's language name or locale (None when it is none of ours)."""
    if not name:
        return None
    return LANGUAGE_CODES.get(str(name).strip().lower().replace(" ", ""))


PUBLISHED = {
    "source": "IndicWhisper, Vistaar README (AI4Bharat), WER %",
    "wer": {
        "kathbath": {
            "bn": 16.6,
            "gu": 17.8,
            "hi": 10.3,
            "kn": 19.3,
            "ml": 34.8,
            "mr": 19.9,
            "or": 24.7,
            "pa": 16.9,
            "ta": 24.2,
            "te": 25.0,
        },
        "kathbath_hard": {
            "bn": 19.4,
            "gu": 20.6,
            "hi": 12.0,
            "kn": 22.2,
            "ml": 38.4,
            "mr": 22.1,
            "or": 29.1,
            "pa": 19.7,
            "ta": 27.5,
            "te": 27.8,
        },
        "common_voice": {"bn": 24.7, "hi": 11.4, "ml": 44.5, "mr": 22.8, "or": 35.2, "pa": 22.4, "ta": 29.2},
        "fleurs": {
            "bn": 20.9,
            "gu": 23.5,
            "hi": 15.0,
            "kn": 18.6,
            "ml": 22.6,
            "mr": 20.5,
            "or": 32.9,
            "pa": 23.1,
            "ta": 25.2,
            "te": 25.4,
        },
    },
}
_PUNCT = str.maketrans("", "", string.punctuation + "।۔'-॥")


@functools.cache
def _indic_normalizer(lang: str):
    from indicnlp.normalize.indic_normalize import IndicNormalizerFactory

    try:
        return IndicNormalizerFactory().get_normalizer(lang)
    except KeyError:  # English (and anything IndicNLP has no normaliser for)
        return None


def vistaar_normalize(text: str, lang: str) -> str:
    text = text.translate(_PUNCT)
    if lang[:2] != "ur" and (normalizer := _indic_normalizer(lang[:2])) is not None:
        text = normalizer.normalize(text)
    return re.sub(" +", " ", text)


def vistaar_scores(refs: Sequence[str], hyps: Sequence[str], lang: str) -> dict[str, float]:
    """Corpus WER and CER of one language as Vistaar's evaluation.py computes them."""
    import jiwer

    r = [vistaar_normalize(x, lang) for x in refs]
    h = [vistaar_normalize(x, lang) for x in hyps]
    # jiwer refuses empty references; evaluation.py never met one (its manifests have text).
    keep = [i for i, x in enumerate(r) if x.strip()]
    if not keep:
        return {"wer": float("nan"), "cer": float("nan")}
    r, h = [r[i] for i in keep], [h[i] for i in keep]
    return {"wer": float(jiwer.wer(r, h)), "cer": float(jiwer.cer(r, h))}


def published_wer(testset: str, lang: str) -> float | None:
    """IndicWhisper's published WER (%) for a benchmark (by the test set's ``benchmark`` name) and language."""
    return PUBLISHED["wer"].get(testset, {}).get(lang)
