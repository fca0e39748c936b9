"""The launch plan: per training stage, steps, micro-batches, audio and tokens per step, epochs,
FLOPs per part, predicted step time, GPU-hours and days (next to the seed documents' figures), GPU
memory per rank, host memory, checkpoint disk and object storage, and whether the data loader keeps
up, from the real clip tables and sampler. Writes JSON and Markdown and prints the Markdown."""

import json
import shutil
from pathlib import Path

from maya.entry import parser, run


def main(args):
    from maya.plan import launch_plan, model_sizes, write

    config = json.loads(args.settings)
    sizes, llm = model_sizes(config)
    calibration = Path(args.calibration) if args.calibration else None
    plan = launch_plan(
        config,
        args.stage1_clips,
        args.stage2_clips,
        args.balance,
        sizes,
        llm,
        json.loads(calibration.read_text()) if calibration and calibration.exists() else None,
        max(1, args.workers),
        free_disk_gb=shutil.disk_usage(Path(args.checkpoint_dir)).free / 2**30 if args.checkpoint_dir else None,
    )
    write(plan, args.json, args.md)
    print(Path(args.md).read_text())


def build_parser():
    p = parser(__doc__)
    p.add_argument("--settings", required=True, help="JSON: the validated config (plan, stage1, stage2, stage3, ...)")
    p.add_argument("--stage1-clips", required=True, help="results/batching/train_clips.arrow")
    p.add_argument("--stage2-clips", help="results/stage2/train_clips.arrow (Gemma tokens)")
    p.add_argument("--balance", required=True, help="results/balance/weights.json")
    p.add_argument("--calibration", help="results/plan/gpu_calibration.json, when make gpu-check has run")
    p.add_argument("--workers", type=int, default=6, help="DataLoader workers per rank")
    p.add_argument("--checkpoint-dir", help="where checkpoints go (its free disk is checked)")
    p.add_argument("--json", required=True)
    p.add_argument("--md", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
