"""Train a SentencePiece BPE tokenizer (NeMo tokenizer-dir format: tokenizer.model,
tokenizer.vocab, vocab.txt) on a language-balanced sample of normalised train transcripts."""

import json
import argparse
import logging
from pathlib import Path

from maya.entry import parser, run
from maya.tokenizers import balanced_sample, train_bpe, train_texts, unk_count

log = logging.getLogger("train_tokenizer")


def main(args):
    texts = train_texts(args.train)
    weights = json.load(open(args.weights))
    shares = {lang: v["share_after"] for lang, v in weights["languages"].items()}
    total = args.sample_sentences or sum(len(v) for v in texts.values())
    sample, stats = balanced_sample(texts, shares, total, args.seed)
    out = train_bpe(sample, args.out_dir, args.vocab_size, args.character_coverage,
                    args.split_by_unicode_script, args.seed)
    unk = unk_count(out, [s for v in texts.values() for s in v])
    (Path(out) / "sample_stats.json").write_text(json.dumps({"languages": stats, "unk_on_train_text": unk}, indent=1) + "\n")
    log.info("BPE %d -> %s; %d sentences sampled; <unk> on train text: %d", args.vocab_size, out, len(sample), unk)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--train", required=True, help="results/splits/train.parquet")
    p.add_argument("--weights", required=True, help="results/balance/weights.json")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--character-coverage", type=float, default=0.9999)
    p.add_argument("--split-by-unicode-script", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--sample-sentences", type=int, default=0, help="0 = as many as distinct train sentences")
    p.add_argument("--seed", type=int, default=1234)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
