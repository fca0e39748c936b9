"""Decode a test set with a checkpoint (Stage 1: greedy TDT or CTC; Stage 2/3: autoregressive greedy
or beam with the language prompt; batched, audio read by tar offset).
Writes one JSONL line per utterance (reference, hypothesis, language, seconds) and an RTFx record."""

import json
from pathlib import Path

from maya.config import section_defaults
from maya.entry import parser, run


def main(args):
    import torch

    from maya.evaluation import decode_testset
    from maya.stage1.inference import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    s = {**section_defaults("eval"), **json.loads(args.settings)}
    device = s["device"] if s["device"] != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.model, device)
    if args.decoding:  # Stage 2: decoding settings of this run, not of the training run's validation
        from omegaconf import OmegaConf

        model.cfg.decoding = OmegaConf.create(json.loads(args.decoding))
    rtfx = decode_testset(
        model,
        args.testset,
        args.decoder,
        args.out_hyps,
        batch_size=s["batch_size"],
        lang_hint=s["lang_hint"] and not args.no_lang_hint,
        progress=not args.no_progress,
    )
    Path(args.out_rtfx).write_text(json.dumps(rtfx, indent=1) + "\n")
    print(f"{rtfx['utterances']} utterances, {rtfx['audio_s']:.1f} s of audio, RTFx {rtfx['rtfx']} on {rtfx['device']}")


def build_parser():
    p = parser(__doc__)
    p.add_argument("--model", required=True, help="Stage-1 .nemo, or a Stage-2/3 final.ckpt")
    p.add_argument("--testset", required=True, help="test-set Parquet (e.g. results/splits/test.parquet)")
    p.add_argument(
        "--decoder",
        choices=["tdt", "ctc", "greedy", "beam"],
        required=True,
        help="Stage 1: tdt or ctc (greedy); Stage 2/3: greedy or beam",
    )
    p.add_argument("--decoding", default="", help="Stage 2/3: config stage2.decoding as JSON (length cap, beam width)")
    p.add_argument(
        "--settings",
        default="{}",
        help="config.eval's batch_size, lang_hint, device as JSON (the schema's defaults otherwise)",
    )
    p.add_argument("--out-hyps", required=True)
    p.add_argument("--out-rtfx", required=True)
    p.add_argument("--no-lang-hint", action="store_true", help="decode without the language (as stock NeMo does)")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for torch (the job's share of the machine; 0: torch's default); RTFx is reported with it",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
