"""Stage 2a / 2b / 3 (maya/stage2/train.py): the Stage-1 encoder, the projection and the Gemma-3
decoder, trained on our clip dataset and sampler. Writes final.ckpt (reload with
MayaSALM.load_from_checkpoint(path) after `import maya.stage2.model`), train_summary.json and
metrics.csv to --out-dir; checkpoints and logs in --out-dir/run/ survive a kill, so the same
command resumes."""

import json
import os
from pathlib import Path

from maya.entry import parser, run


def main(args):
    from maya.stage2.train import train

    settings = (
        json.loads(Path(args.settings).read_text()) if args.settings.endswith(".json") else json.loads(args.settings)
    )
    s = train(
        settings,
        args.stage,
        args.init,
        args.llm,
        args.tokenizer,
        args.splits,
        args.train_clips,
        args.balance,
        args.out_dir,
        workers=args.workers,
        progress=not args.no_progress,
        run_key=args.run_key,
        ops=json.loads(args.ops),
    )
    if s:
        print(f"stage {s['stage']}: {s['steps']} steps in {s['wall_s']:.0f} s; val {json.dumps(s['final_val'])}")


def build_parser():
    p = parser(__doc__)
    p.add_argument("--stage", required=True, choices=["stage2a", "stage2b", "stage3"])
    p.add_argument("--settings", required=True, help="JSON (or a .json file): stage2, stage3, languages, data")
    p.add_argument("--init", required=True, help="2a: the Stage-1 .nemo; 2b/3: the previous stage's final.ckpt")
    p.add_argument("--llm", required=True, help="the LLM directory (results/llm)")
    p.add_argument("--tokenizer", required=True, help="Gemma tokenizer dir (results/tokenizer/gemma)")
    p.add_argument("--splits", required=True, help="dir with val.parquet")
    p.add_argument("--train-clips", required=True, help="Stage-2 clip table of the training clips")
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
