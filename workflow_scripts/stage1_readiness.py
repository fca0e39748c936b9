"""Readiness gate before GPU training: GPUs visible and enough of them, free disk for the checkpoints,
the config valid (validated by Snakemake before any job), every input artifact present, pretrained
weights readable. Fails fast, listing every problem at once."""

import json

from maya.entry import parser, run
from maya.readiness import add_gate_arguments, plan_entry, write_report


def main(args):
    from maya.stage1.modules import model_summary
    from maya.stage1.readiness import check

    settings = json.loads(args.settings)
    s1 = settings["stage1"]
    n_params = model_summary(s1["model"], settings["vocab_size"], len(settings["languages"]))["total"]
    report = check(
        s1,
        args.artifacts,
        args.checkpoint_dir,
        n_params,
        storage=json.loads(args.ops).get("storage"),
        plan=plan_entry(args.plan, "stage1"),
    )
    report["parameters"] = n_params
    write_report(report, args.out)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--settings", required=True, help="JSON: stage1, languages, vocab_size (the validated config)")
    add_gate_arguments(p)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
