"""The launch plan: per training stage, steps, micro-batches, audio and tokens per step, epochs,
FLOPs per part, predicted step time, GPU-hours and days (next to the seed documents' figures), GPU
memory per rank, host memory, checkpoint disk and object storage, and whether the data loader keeps
up, from the real clip tables and sampler. Writes JSON and Markdown and prints the Markdown."""

import json
import shutil
from pathlib import Path

from maya.entry import parser, run


def main(args):
    from maya.plan import launch_plan, write
    from maya.stage1.modules import model_summary
    from maya.stage2.llm import llm_config, stage2_summary

    config = json.loads(args.settings)
    model, langs = config["stage1"]["model"], config["languages"]
    s1 = model_summary(model, config["tokenizer"]["vocab_size"], len(langs))
    s2 = stage2_summary(
        model["d_model"],
        s1["encoder"],
        config["stage2"]["llm"],
        1 + len(langs),
        config["stage2"]["projection_downsample"],
    )["counts"]
    llm = llm_config(config["stage2"]["llm"])[0].to_dict()
    llm.setdefault("head_dim", llm["hidden_size"] // llm["num_attention_heads"])
    calibration = Path(args.calibration) if args.calibration else None
    plan = launch_plan(
        config,
        args.stage1_clips,
        args.stage2_clips,
        args.balance,
        {
            "stage1": s1["total"],
            "stage2": s2["total"],
            "encoder": s1["encoder"],
            "projection": s2["projection"],
            "llm": s2["llm_embedding"] + s2["llm_other"],
        },
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
