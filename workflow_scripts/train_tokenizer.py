"""Train a SentencePiece BPE tokenizer (NeMo tokenizer-dir format: tokenizer.model,
tokenizer.vocab, vocab.txt) on a language-balanced sample of normalised train transcripts."""

import json
import logging
from pathlib import Path

from maya.config import section_defaults
from maya.entry import parser, run
from maya.tokenizers import plan_balanced_sample, train_bpe, unk_count_file, write_sample

log = logging.getLogger("train_tokenizer")


def main(args):
    weights = json.loads(Path(args.weights).read_text())
    shares = {lang: v["share_after"] for lang, v in weights["languages"].items()}
    t = {**section_defaults("tokenizer"), **json.loads(args.settings)}
    plan = plan_balanced_sample(args.train, shares, t["sample_sentences"], t["seed"])
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample = out / "text_sample.txt"
    n = write_sample(args.train, plan, sample)
    log.info("sample: %d sentences (%d distinct) -> %s", n, len(plan.rows), sample)
    train_bpe(sample, out, args.vocab_size, t["character_coverage"], t["split_by_unicode_script"], t["seed"])
    unk = unk_count_file(out, sample)
    (out / "sample_stats.json").write_text(json.dumps({"languages": plan.stats, "unk_on_sample": unk}, indent=1) + "\n")
    log.info("BPE %d -> %s; <unk> on the sample: %d", args.vocab_size, out, unk)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--train", required=True, help="results/splits/train.parquet")
    p.add_argument("--weights", required=True, help="results/balance/weights.json")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument(
        "--settings",
        default="{}",
        help="config.tokenizer as JSON (character_coverage, split_by_unicode_script, sample_sentences, seed)",
    )
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
