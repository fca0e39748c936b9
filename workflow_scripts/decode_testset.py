"""Decode a test set with a checkpoint (greedy TDT or CTC, batched, audio read by tar offset).
Writes one JSONL line per utterance (reference, hypothesis, language, seconds) and an RTFx record."""

import json
from pathlib import Path

from maya.entry import parser, run


def main(args):
    import torch

    from maya.evaluation import decode_testset
    from maya.stage1.inference import load_model

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.model, device)
    rtfx = decode_testset(model, args.testset, args.decoder, args.out_hyps, batch_size=args.batch_size,
                          lang_hint=args.lang_hint, progress=not args.no_progress)
    Path(args.out_rtfx).write_text(json.dumps(rtfx, indent=1) + "\n")
    print(f"{rtfx['utterances']} utterances, {rtfx['audio_s']:.1f} s of audio, RTFx {rtfx['rtfx']} on {rtfx['device']}")


def build_parser():
    p = parser(__doc__)
    p.add_argument("--model", required=True, help=".nemo checkpoint")
    p.add_argument("--testset", required=True, help="test-set Parquet (e.g. results/splits/test.parquet)")
    p.add_argument("--decoder", choices=["tdt", "ctc"], required=True)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lang-hint", action=__import__("argparse").BooleanOptionalAction, default=True)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out-hyps", required=True)
    p.add_argument("--out-rtfx", required=True)
    p.add_argument("--no-progress", action="store_true")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
