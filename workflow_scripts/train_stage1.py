"""Stage 1: train the FastConformer hybrid TDT + CTC model (NeMo) on the train split, read from the
original shard tars by byte offset. Writes final.nemo, train_summary.json and metrics.csv to
--out-dir; checkpoints and TensorBoard/CSV logs go to --out-dir/run/ and survive a kill, so running
the same command again resumes from the last checkpoint."""

import json
import os
from pathlib import Path

from maya.entry import parser, run


def main(args):
    from maya.stage1.train import train

    settings = (
        json.loads(Path(args.settings).read_text()) if args.settings.endswith(".json") else json.loads(args.settings)
    )
    noise = []
    if settings["stage1"]["augment"].get("noise_dir"):
        root = Path(settings["stage1"]["augment"]["noise_dir"])
        noise = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in (".wav", ".flac"))
    summary = train(
        settings,
        args.splits,
        args.train_clips,
        args.tokenizer,
        args.balance,
        args.out_dir,
        noise_files=noise,
        workers=args.workers,
        progress=not args.no_progress,
        run_key=args.run_key,
        ops=json.loads(args.ops),
    )
    if summary:
        v = {k: ("-" if x is None else f"{x:.3f}") for k, x in summary["final_val"].items()}
        print(
            f"stage 1: {summary['steps']} steps in {summary['wall_s']:.0f} s; val WER {v['val_wer']} "
            f"CER {v['val_cer']} (CTC: WER {v['val_wer_ctc']} CER {v['val_cer_ctc']})"
        )


def build_parser():
    p = parser(__doc__)
    p.add_argument(
        "--settings",
        required=True,
        help="JSON (or a .json file): stage1, languages, data.sample_rate, data.bucket_edges_s",
    )
    p.add_argument("--splits", required=True, help="dir with val.parquet")
    p.add_argument(
        "--train-clips", required=True, help="train clip table with token ids (results/batching/train_clips.arrow)"
    )
    p.add_argument("--tokenizer", required=True, help="Stage-1 SentencePiece dir")
    p.add_argument("--balance", help="results/balance/weights.json (language rebalancing)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument(
        "--run-key", default="", help="identity of settings+code; a different key restarts instead of resuming"
    )
    p.add_argument(
        "--ops",
        default=os.environ.get("MAYA_OPS", "{}"),
        help="JSON: run_name, storage (checkpoint offload) and tracking (loggers); not part of the run key"
        " (default: $MAYA_OPS, which the workflow sets)",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
