"""Write reports/eval.html: per-language WER/CER with CIs for every stage and decoder, RTFx, training
hours before/after balancing, data QC, training curves, published baselines, provenance."""

import hashlib
import json
from pathlib import Path

from maya.entry import parser, run


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(args):
    import datetime as dt

    from maya.report import build_report, now

    def key(p):
        return "/".join(Path(p).parent.parts[-3:])

    provenance = json.loads(args.provenance)
    provenance["generated"] = now()
    for m in args.models:
        provenance[f"checkpoint {m}"] = f"sha256 {_sha256(m)}, written " + dt.datetime.fromtimestamp(
            Path(m).stat().st_mtime, dt.UTC
        ).strftime("%Y-%m-%d %H:%M UTC")
    out = build_report(
        args.summary,
        {key(p): p for p in args.scores},
        {key(p): p for p in args.rtfx},
        args.balance,
        args.qc,
        args.train_summary,
        args.metrics,
        provenance,
        args.out,
        title=args.title,
        bins_json=args.bins,
        stage_summaries={Path(p).parent.name: p for p in args.stage_summaries},
        llm_name=args.llm_name,
        timings_dir=args.timings,
        benchmarks=json.loads(args.benchmarks),
    )
    print(f"{args.out}: {out['bytes']:,} bytes, languages {', '.join(out['languages'])}")


def build_parser():
    p = parser(__doc__)
    p.add_argument("--summary", required=True)
    p.add_argument("--scores", nargs="+", required=True)
    p.add_argument("--rtfx", nargs="+", required=True)
    p.add_argument("--balance", required=True)
    p.add_argument("--qc", required=True)
    p.add_argument("--bins", help="results/batching/bins.json (tokens per encoder frame)")
    p.add_argument("--train-summary")
    p.add_argument("--metrics")
    p.add_argument(
        "--stage-summaries",
        nargs="*",
        default=[],
        help="results/{stage2a,stage2b,stage3}/train_summary.json of the Stage-2/3 rows",
    )
    p.add_argument("--llm-name", default="", help="what the Stage-2 decoder is (stage2.llm_name)")
    p.add_argument("--models", nargs="*", default=[])
    p.add_argument("--provenance", default="{}", help="JSON: git commit, config hash, run name, ...")
    p.add_argument("--title", default="Maya ASR evaluation")
    p.add_argument("--benchmarks", default="{}", help="JSON: test set -> published benchmark it is (or null)")
    p.add_argument("--timings", help="Snakemake's benchmark folder (results/benchmarks): the time per rule")
    p.add_argument("--out", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
