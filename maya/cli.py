"""The ``maya`` command.

maya transcribe --model results/stage1/final.nemo --lang hi a.wav b.flac
maya transcribe --model results/stage1/final.nemo --decoder ctc a.wav     (no language hint)
"""

from __future__ import annotations

import argparse
import sys

from maya.entry import setup_logging
from maya.errors import MayaError


def _transcribe(args) -> int:
    from maya.stage1.inference import load_model, transcribe

    model = load_model(args.model, args.device)
    texts = transcribe(model, args.audio, lang=args.lang, decoder=args.decoder, batch_size=args.batch_size)
    for path, text in zip(args.audio, texts, strict=True):
        print(f"{path}\t{text}" if len(args.audio) > 1 else text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maya", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("transcribe", help="transcribe audio files with a Stage-1 .nemo model")
    t.add_argument("--model", required=True, help="a .nemo written by Stage 1 (results/stage1/final.nemo)")
    t.add_argument("--lang", default=None, help="language hint (ISO code, e.g. hi); omit for none")
    t.add_argument("--decoder", choices=["tdt", "ctc"], default="tdt", help="greedy TDT (default) or greedy CTC")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    t.add_argument("audio", nargs="+", help="audio files (wav/flac, any rate; resampled to 16 kHz)")
    t.set_defaults(func=_transcribe)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.func(args)
    except MayaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
