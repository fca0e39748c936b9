"""WER and CER with jiwer, after the same text normalisation as the tokenizer corpus.

- ``error_rates``: corpus-level WER and CER with substitutions, deletions and insertions
  (jiwer sums edit operations over all utterances, then divides by reference words/characters).
- ``bootstrap_ci``: 95 % confidence intervals by resampling utterances with a fixed seed (the
  usual utterance-level bootstrap; per-utterance edit counts are computed once, then resampled).
- ``top_confusions``: most frequent word substitutions (ref -> hyp).

Empty references are kept out of the denominator by jiwer's rules; an empty hypothesis is all
deletions. CER counts characters of the normalised text, spaces excluded, so Indic scripts are
scored on their code points (NFC) and not on how words happen to be split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from maya.text.normalize import normalize_text


def normalise_for_scoring(text: str, lang: str | None = None) -> str:
    return normalize_text(text or "", lang)


def _chars(s: str) -> str:
    # Characters without spaces, separated by spaces for jiwer (which tokenises on whitespace).
    return " ".join(ch for ch in s if not ch.isspace())


def _substitutions(o, pairs: Counter) -> None:
    rw, hw = o.references[0], o.hypotheses[0]
    for a in o.alignments[0]:
        if a.type == "substitute":
            for i, j in zip(range(a.ref_start_idx, a.ref_end_idx), range(a.hyp_start_idx, a.hyp_end_idx), strict=True):
                pairs[(rw[i], hw[j])] += 1


def utterance_counts(refs: Sequence[str], hyps: Sequence[str], confusions: Counter | None = None) -> np.ndarray:
    """Per utterance: [word S, D, I, ref words, char S, D, I, ref chars] (int64, shape (N, 8)).
    With ``confusions``, word substitutions (ref, hyp) are counted into it from the same alignment."""
    import jiwer

    out = np.zeros((len(refs), 8), dtype=np.int64)
    for i, (r, h) in enumerate(zip(refs, hyps, strict=True)):
        for j, (rr, hh) in enumerate(((r, h), (_chars(r), _chars(h)))):
            n_ref = len(rr.split())
            if n_ref == 0:
                out[i, 4 * j : 4 * j + 4] = (0, 0, len(hh.split()), 0)
                continue
            o = jiwer.process_words(rr, hh if hh.strip() else "")
            out[i, 4 * j : 4 * j + 4] = (o.substitutions, o.deletions, o.insertions, n_ref)
            if j == 0 and confusions is not None:
                _substitutions(o, confusions)
    return out


def rates_from_counts(c: np.ndarray) -> dict:
    tot = c.sum(axis=0)
    w_err, c_err = tot[0] + tot[1] + tot[2], tot[4] + tot[5] + tot[6]
    return {
        "wer": float(w_err / tot[3]) if tot[3] else float("nan"),
        "cer": float(c_err / tot[7]) if tot[7] else float("nan"),
        "word_substitutions": int(tot[0]),
        "word_deletions": int(tot[1]),
        "word_insertions": int(tot[2]),
        "ref_words": int(tot[3]),
        "char_substitutions": int(tot[4]),
        "char_deletions": int(tot[5]),
        "char_insertions": int(tot[6]),
        "ref_chars": int(tot[7]),
    }


def error_rates(refs: Sequence[str], hyps: Sequence[str]) -> dict:
    return rates_from_counts(utterance_counts(refs, hyps))


def bootstrap_ci(counts: np.ndarray, samples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Percentile CIs of WER and CER from ``samples`` utterance-level resamples."""
    n = len(counts)
    if n == 0 or samples <= 0:
        return {"wer_ci": [float("nan")] * 2, "cer_ci": [float("nan")] * 2}
    rng = np.random.default_rng(seed)
    # One resample = how often each utterance was drawn (bincount) times the counts: O(n) memory
    # (indexing counts by a (samples, n) draw is samples x n x 8 int64: 34 GB for the production
    # test split of 530K utterances) and 7x faster. Float64 sums of integers are exact below 2^53.
    values = counts.astype(np.float64)
    sums = np.empty((samples, counts.shape[1]))
    for s in range(samples):
        sums[s] = np.bincount(rng.integers(0, n, size=n), minlength=n) @ values
    with np.errstate(invalid="ignore", divide="ignore"):
        wer = (sums[:, 0] + sums[:, 1] + sums[:, 2]) / sums[:, 3]
        cer = (sums[:, 4] + sums[:, 5] + sums[:, 6]) / sums[:, 7]
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {
        "wer_ci": [float(np.nanpercentile(wer, lo)), float(np.nanpercentile(wer, hi))],
        "cer_ci": [float(np.nanpercentile(cer, lo)), float(np.nanpercentile(cer, hi))],
    }


def top_confusions(refs: Sequence[str], hyps: Sequence[str], k: int = 10) -> list[dict]:
    pairs: Counter = Counter()
    utterance_counts(refs, hyps, confusions=pairs)
    return confusion_rows(pairs, k)


def confusion_rows(pairs: Counter, k: int) -> list[dict]:
    return [{"ref": a, "hyp": b, "count": n} for (a, b), n in pairs.most_common(k)]
