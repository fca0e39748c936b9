"""Split kept clips into train/val/test: deterministic, per language, speaker- and optionally
text-disjoint, stable when shards are added. Writes {train,val,test}.parquet, NeMo .jsonl and a
report (clips/hours/speakers per split and language, exclusions, fallbacks)."""

import json
import logging

from maya.entry import parser, run
from maya.splits import SplitSettings, make_splits

log = logging.getLogger("make_splits")


def main(args):
    settings = SplitSettings(**json.loads(args.settings))
    report = make_splits(args.manifests, args.out_dir, settings)
    for lang, s in report["languages"].items():
        log.info(
            "%s: train %d, val %d, test %d clips; excluded %s",
            lang,
            s["train"]["clips"],
            s["val"]["clips"],
            s["test"]["clips"],
            s["excluded"] or "none",
        )


def build_parser():
    p = parser(__doc__)
    p.add_argument("--manifests", nargs="+", required=True, help="results/manifests/{corpus}/{lang}.parquet files")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--settings", default="{}", help="config.splits as JSON (the schema's defaults otherwise)")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
