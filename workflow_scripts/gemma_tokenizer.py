"""The Stage-2 decoder tokenizer: Gemma-3's 262K SentencePiece tokenizer extended with
<|transcribe|> and one <|xx|> token per language, saved as a Hugging Face tokenizer directory.
Source: a local HF dir, a .gguf file, or gguf-package:MODULE (nothing is downloaded)."""

import logging

from maya.entry import parser, run
from maya.tokenizers import build_gemma_tokenizer

log = logging.getLogger("gemma_tokenizer")


def main(args):
    info = build_gemma_tokenizer(args.source, args.languages, args.out_dir)
    log.info("Gemma tokenizer %d -> %d tokens (%s)", info["base_vocab"], info["vocab"], args.out_dir)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--source", required=True)
    p.add_argument("--languages", nargs="+", required=True)
    p.add_argument("--out-dir", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
