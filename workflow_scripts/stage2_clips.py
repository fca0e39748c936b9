"""The Stage-2 clip table of a split: the same clips as Stage 1's, token ids from the Gemma
tokenizer (results/tokenizer/gemma), so the sampler's token cap counts LLM tokens."""

from maya.entry import parser, run


def main(args):
    from maya.clip_table import HFTokenizerEncoder, write_clip_table

    encode = HFTokenizerEncoder(args.tokenizer)
    meta = write_clip_table(args.split, args.out, encode, encode.vocab_size)
    print(f"{args.out}: {meta.get('rows')} clips")


def build_parser():
    p = parser(__doc__)
    p.add_argument("--split", required=True, help="split Parquet (results/splits/train.parquet)")
    p.add_argument("--tokenizer", required=True, help="Gemma tokenizer dir (results/tokenizer/gemma)")
    p.add_argument("--out", required=True, help="clip table to write (.arrow)")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
