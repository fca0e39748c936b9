"""`make gpu-check`: on the day a GPU is lent, measure in a few minutes what the launch plan assumes
(NeMo's CUDA TDT loss against ours; the configured Stage-1 model for a few bf16 steps at the caps:
step time, peak memory against the memory model, achieved utilisation; a Stage-2b step under
DeepSpeed ZeRO-2; decoding RTFx). Random weights, nothing downloaded. Writes the JSON the plan reads."""

import json
from pathlib import Path

from maya.entry import parser, run


def main(args):
    import yaml

    from maya.config import deep_update, validate_config
    from maya.gpu_check import run as check

    cfg = {}
    for path in args.configfile:
        cfg = deep_update(cfg, yaml.safe_load(Path(path).read_text()))
    cfg = validate_config(cfg)
    out = check(cfg, Path(args.work), steps=args.steps, stage2_steps=args.stage2_steps)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(json.dumps(out, indent=1, default=str))


def build_parser():
    p = parser(__doc__)
    p.add_argument("--configfile", nargs="+", default=["config.yaml", "config/prod.yaml"], help="configs, layered")
    p.add_argument("--steps", type=int, default=20, help="Stage-1 optimizer steps (the first 3 are warm-up)")
    p.add_argument("--stage2-steps", type=int, default=10)
    p.add_argument("--work", default="results/plan/gpu_check", help="scratch (the synthetic tokenizer)")
    p.add_argument("--out", default="results/plan/gpu_calibration.json")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
