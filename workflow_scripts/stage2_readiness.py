"""Readiness gate before Stage 2a / 2b / 3 on GPUs: GPUs visible and enough of them, free disk for
the checkpoints, every input artifact present, the LLM directory loadable, DeepSpeed importable
when the strategy is deepspeed, bf16 on the GPUs when the precision asks for it. Fails fast,
listing every problem at once."""

import json

from maya.entry import parser, run
from maya.readiness import add_gate_arguments, plan_entry, write_report


def main(args):
    from maya.stage1.modules import model_summary
    from maya.stage2.llm import stage2_summary
    from maya.stage2.readiness import check

    settings = json.loads(args.settings)
    s1_model = settings["stage1_model"]
    encoder = model_summary(s1_model, 1024, len(settings["languages"]))["encoder"]  # the encoder ignores the vocab
    counts = stage2_summary(
        s1_model["d_model"],
        encoder,
        args.llm,
        1 + len(settings["languages"]),
        settings["stage2"]["projection_downsample"],
    )["counts"]
    report = check(
        settings,
        args.stage,
        args.llm,
        args.artifacts,
        args.checkpoint_dir,
        counts["total"],
        storage=json.loads(args.ops).get("storage"),
        plan=plan_entry(args.plan, args.stage),
    )
    write_report(report, args.out)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--stage", required=True, choices=["stage2a", "stage2b", "stage3"])
    p.add_argument(
        "--settings", required=True, help="JSON: stage2 (and stage3), languages, stage1_model (the validated config)"
    )
    p.add_argument("--llm", required=True, help="the LLM directory (results/llm)")
    add_gate_arguments(p)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
