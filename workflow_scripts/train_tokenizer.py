"""Train a SentencePiece BPE tokenizer (NeMo tokenizer-dir format: tokenizer.model,
tokenizer.vocab, vocab.txt) on a language-balanced sample of normalised train transcripts."""

import json
import logging
from pathlib import Path

from maya.config import section_defaults
from maya.entry import parser, run
from maya.tokenizers import balanced_sample, train_bpe, train_texts, unk_count

log = logging.getLogger("train_tokenizer")


def main(args):
    texts = train_texts(args.train)
    weights = json.load(open(args.weights))
    shares = {lang: v["share_after"] for lang, v in weights["languages"].items()}
    t = {**section_defaults("tokenizer"), **json.loads(args.settings)}
    total = t["sample_sentences"] or sum(len(v) for v in texts.values())
    sample, stats = balanced_sample(texts, shares, total, t["seed"])
    out = train_bpe(sample, args.out_dir, args.vocab_size, t["character_coverage"], t["split_by_unicode_script"], t["seed"])
    unk = unk_count(out, [s for v in texts.values() for s in v])
    (Path(out) / "sample_stats.json").write_text(json.dumps({"languages": stats, "unk_on_train_text": unk}, indent=1) + "\n")
    log.info("BPE %d -> %s; %d sentences sampled; <unk> on train text: %d", args.vocab_size, out, len(sample), unk)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--train", required=True, help="results/splits/train.parquet")
    p.add_argument("--weights", required=True, help="results/balance/weights.json")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--settings", default="{}",
                   help="config.tokenizer as JSON (character_coverage, split_by_unicode_script, sample_sentences, seed)")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
