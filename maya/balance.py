"""Language balancing: how often each (corpus, language) is sampled, as an explicit artifact.

Two tiers (Canary-1B-v2 style): languages compete with each other, then corpora compete within
their language. Two methods:

- ``temperature`` (seed README, T = 0.3): p(lang) ∝ hours(lang)^T; within a language
  p(corpus | lang) ∝ hours(corpus, lang)^T_corpus. T = 1 keeps natural proportions, T = 0 is uniform.
- ``two_stage_upsampling`` (build guide 2.6, Polyglot-Lion): deterministic repeat factors.
  Stage 1 (intra-language) upsamples each corpus to the language's largest corpus; stage 2
  (inter-language) upsamples each language to the largest language after stage 1.

Both give a weight per (corpus, language) summing to 1 and the hours each would contribute per
"epoch" of the original total, so the before/after table is comparable across methods.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from maya.config import section_defaults

_DEFAULTS = section_defaults("balance")


@dataclass(frozen=True)
class BalanceSettings:
    """config.balance; defaults are the schema's."""

    method: str = _DEFAULTS["method"]
    temperature: float = _DEFAULTS["temperature"]
    corpus_temperature: float = _DEFAULTS["corpus_temperature"]

    def __post_init__(self):
        if self.method not in ("temperature", "two_stage_upsampling"):
            raise ValueError(f"unknown balancing method {self.method!r}")


def _normalise(d: Mapping, power: float) -> dict:
    vals = {k: (v**power if v > 0 else 0.0) for k, v in d.items()}
    total = sum(vals.values())
    return {k: v / total for k, v in vals.items()} if total else dict.fromkeys(d, 0.0)


def balance(hours: Mapping[tuple[str, str], float], settings: BalanceSettings) -> dict:
    """``hours[(corpus, lang)]`` -> weights, repeat factors and before/after hours."""
    hours = {k: float(v) for k, v in hours.items() if v > 0}
    if not hours:
        raise ValueError("no training hours to balance")
    total = sum(hours.values())
    by_lang: dict[str, dict[str, float]] = defaultdict(dict)
    for (corpus, lang), h in hours.items():
        by_lang[lang][corpus] = h
    lang_hours = {lang: sum(c.values()) for lang, c in by_lang.items()}

    if settings.method == "temperature":
        p_lang = _normalise(lang_hours, settings.temperature)
        weights = {}
        for lang, corpora in by_lang.items():
            p_corpus = _normalise(corpora, settings.corpus_temperature)
            for corpus, p in p_corpus.items():
                weights[(corpus, lang)] = p_lang[lang] * p
        factors = {k: weights[k] * total / hours[k] for k in hours}
    else:
        stage1 = {}
        for lang, corpora in by_lang.items():
            top = max(corpora.values())
            for corpus, h in corpora.items():
                stage1[(corpus, lang)] = top / h
        lang_after1 = {
            lang: sum(hours[(c, lang)] * stage1[(c, lang)] for c in corpora) for lang, corpora in by_lang.items()
        }
        top_lang = max(lang_after1.values())
        factors = {k: stage1[k] * top_lang / lang_after1[k[1]] for k in hours}
        upsampled = {k: hours[k] * f for k, f in factors.items()}
        weights = {k: v / sum(upsampled.values()) for k, v in upsampled.items()}

    entries = []
    for corpus, lang in sorted(hours, key=lambda k: (k[1], k[0])):
        entries.append(
            {
                "corpus": corpus,
                "language": lang,
                "hours": round(hours[(corpus, lang)], 4),
                "weight": weights[(corpus, lang)],
                "repeat_factor": round(factors[(corpus, lang)], 4),
            }
        )
    languages = {}
    for lang in sorted(by_lang):
        w = sum(weights[(c, lang)] for c in by_lang[lang])
        languages[lang] = {
            "hours_before": round(lang_hours[lang], 4),
            "share_before": lang_hours[lang] / total,
            "share_after": w,
            "hours_after": round(w * total, 4),
        }
    return {
        "method": settings.method,
        "temperature": settings.temperature,
        "corpus_temperature": settings.corpus_temperature,
        "total_hours": round(total, 4),
        "entries": entries,
        "languages": languages,
    }


def train_hours(train_parquet) -> dict[tuple[str, str], float]:
    """Hours per (corpus, language) of a split Parquet (one Arrow group-by, no per-clip Python)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(train_parquet, columns=["corpus", "language", "duration_s", "decoded_duration_s"])
    secs = pc.fill_null(pc.coalesce(t.column("decoded_duration_s"), t.column("duration_s")), 0.0)
    g = (
        t.select(["corpus", "language"])
        .append_column("s", secs)
        .group_by(["corpus", "language"])
        .aggregate([("s", "sum")])
    )
    cols = (g.column(n).to_pylist() for n in ("corpus", "language", "s_sum"))
    return {(c, lang): s / 3600 for c, lang, s in zip(*cols, strict=True)}
