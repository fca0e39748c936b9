"""Evaluation: decode a test set with a checkpoint, score it per language, tabulate everything.

Three steps, three file targets, so a scoring change never re-decodes and a report change never
re-scores:

- ``decode_testset``: batched greedy decoding (TDT or CTC) of a test-set Parquet read through
  ``TarOffsetReader``; one JSONL line per utterance (id, language, reference, hypothesis, seconds)
  and an RTFx record (audio seconds / decoding wall seconds, with device and batch size).
- ``score_hypotheses``: WER and CER per language and overall with jiwer after the shared text
  normalisation; S/D/I; bootstrap 95 % CIs; top word confusions.
- ``summary_rows``: one tidy row per (stage, test set, decoder, language) for ``summary.csv``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from maya.benchmarks import vistaar_scores
from maya.clips import clip_durations, clip_ref, pad_audio
from maya.scoring import bootstrap_ci, confusion_rows, normalise_for_scoring, rates_from_counts, utterance_counts

TESTSET_COLUMNS = [
    "segment_id",
    "language",
    "transcript",
    "audio_path",
    "member",
    "offset",
    "nbytes",
    "duration_s",
    "decoded_duration_s",
]


def testset_from_manifests(manifests: Sequence[str | Path], out_parquet: str | Path) -> dict:
    """An external test set (an ``eval`` corpus's QC'd manifests) as one Parquet."""
    tables = [pq.read_table(m).select(TESTSET_COLUMNS) for m in manifests]
    t = pa.concat_tables(tables) if tables else pa.table({c: [] for c in TESTSET_COLUMNS})
    pq.write_table(t, out_parquet)
    return {"clips": t.num_rows}


def decode_testset(
    model,
    testset: str | Path,
    decoder: str,
    out_jsonl: str | Path,
    batch_size: int = 16,
    lang_hint: bool = True,
    progress: bool = True,
) -> dict:
    """Decode every clip of ``testset``; returns the RTFx record."""
    import torch
    from tqdm import tqdm

    from maya.audio.reader import TarOffsetReader

    rows = pq.read_table(testset, columns=TESTSET_COLUMNS).to_pydict()
    n = len(rows["segment_id"])
    durs = clip_durations(rows["decoded_duration_s"], rows["duration_s"])
    order = np.argsort(-durs, kind="stable")  # similar lengths per batch: less padding
    reader = TarOffsetReader(sample_rate=16000)
    device = next(model.parameters()).device
    langs = list(model.languages)
    results: list[dict | None] = [None] * n
    model_s, read_s = 0.0, 0.0
    bar = tqdm(total=n, desc=f"decode {Path(testset).stem} {decoder}", unit="utt", disable=not progress)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        t0 = time.perf_counter()
        audio = [reader.read(clip_ref(rows, i)) for i in idx]
        sig, lens = pad_audio(audio)
        ids = torch.tensor(
            [langs.index(rows["language"][i]) if lang_hint and rows["language"][i] in langs else -1 for i in idx],
            dtype=torch.long,
        )
        t1 = time.perf_counter()
        hyps = model.decode_audio(sig.to(device), lens.to(device), ids.to(device), decoder)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        read_s += t1 - t0
        model_s += t2 - t1
        over = getattr(model, "last_over_length", None)  # Stage 2: outputs cut at the length cap
        for k, (i, a, h) in enumerate(zip(idx, audio, hyps, strict=True)):
            results[i] = {
                "segment_id": rows["segment_id"][i],
                "lang": rows["language"][i],
                "ref": rows["transcript"][i],
                "hyp": h,
                "seconds": round(len(a) / 16000, 4),
            }
            if over is not None:
                results[i]["over_length"] = bool(over[k])
        bar.update(len(idx))
    bar.close()
    with open(out_jsonl, "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    audio_s = float(sum(r["seconds"] for r in results)) if results else 0.0
    return {
        "utterances": n,
        "audio_s": round(audio_s, 3),
        "decode_s": round(model_s, 3),
        "read_s": round(read_s, 3),
        "rtfx": round(audio_s / model_s, 2) if model_s else None,
        "rtfx_end_to_end": round(audio_s / (model_s + read_s), 2) if model_s + read_s else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "batch_size": batch_size,
        "decoder": decoder,
        "lang_hint": lang_hint,
        "threads": torch.get_num_threads(),
    }


def read_hypotheses(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def score_hypotheses(
    records: Iterable[dict], bootstrap_samples: int = 1000, seed: int = 7, top_k_confusions: int = 10
) -> dict:
    """Per-language and overall WER/CER with CIs; references and hypotheses normalised alike."""
    records = list(records)
    by_lang: dict[str, list[dict]] = {}
    for r in records:
        by_lang.setdefault(r["lang"], []).append(r)
    out = {"languages": {}, "bootstrap_samples": bootstrap_samples, "bootstrap_seed": seed}
    all_counts = []
    for lang in sorted(by_lang):
        rs = by_lang[lang]
        refs = [normalise_for_scoring(r["ref"], lang) for r in rs]
        hyps = [normalise_for_scoring(r["hyp"], lang) for r in rs]
        pairs: Counter = Counter()
        counts = utterance_counts(refs, hyps, confusions=pairs)  # one alignment for counts and confusions
        all_counts.append(counts)
        out["languages"][lang] = {
            "utterances": len(rs),
            "hours": round(sum(r["seconds"] for r in rs) / 3600, 4),
            **rates_from_counts(counts),
            **bootstrap_ci(counts, bootstrap_samples, seed),
            "confusions": confusion_rows(pairs, top_k_confusions),
            # As IndicWhisper's published numbers were scored (Vistaar's evaluation.py).
            "vistaar": vistaar_scores([r["ref"] or "" for r in rs], [r["hyp"] or "" for r in rs], lang),
        }
        if "over_length" in rs[0]:  # generated outputs that hit the length cap without <eos>
            out["languages"][lang]["over_length"] = int(sum(r["over_length"] for r in rs))
    if all_counts:
        counts = np.concatenate(all_counts)
        out["overall"] = {
            "utterances": len(records),
            **rates_from_counts(counts),
            **bootstrap_ci(counts, bootstrap_samples, seed),
        }
        wers = [v["wer"] for v in out["languages"].values()]
        cers = [v["cer"] for v in out["languages"].values()]
        out["macro_average"] = {"wer": float(np.nanmean(wers)), "cer": float(np.nanmean(cers)), "languages": len(wers)}
    return out


def summary_rows(stage: str, testset: str, decoder: str, scores: Mapping, rtfx: Mapping) -> list[dict]:
    rows = []
    for lang, s in scores["languages"].items():
        rows.append(
            {
                "stage": stage,
                "testset": testset,
                "decoder": decoder,
                "language": lang,
                "utterances": s["utterances"],
                "hours": s["hours"],
                "wer": round(s["wer"], 6),
                "wer_ci_low": round(s["wer_ci"][0], 6),
                "wer_ci_high": round(s["wer_ci"][1], 6),
                "cer": round(s["cer"], 6),
                "cer_ci_low": round(s["cer_ci"][0], 6),
                "cer_ci_high": round(s["cer_ci"][1], 6),
                "wer_vistaar": round(s["vistaar"]["wer"], 6) if "vistaar" in s else None,
                "cer_vistaar": round(s["vistaar"]["cer"], 6) if "vistaar" in s else None,
                "word_substitutions": s["word_substitutions"],
                "word_deletions": s["word_deletions"],
                "word_insertions": s["word_insertions"],
                "ref_words": s["ref_words"],
                "ref_chars": s["ref_chars"],
                "rtfx": rtfx.get("rtfx"),
                "device": rtfx.get("device"),
                "batch_size": rtfx.get("batch_size"),
                "over_length": s.get("over_length"),
            }
        )
    return rows
