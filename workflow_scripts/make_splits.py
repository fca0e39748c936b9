"""Split kept clips into train/val/test: deterministic, per language, speaker- and optionally
text-disjoint, stable when shards are added. Writes {train,val,test}.parquet, NeMo .jsonl and a
report (clips/hours/speakers per split and language, exclusions, fallbacks)."""

import argparse
import logging

from maya.entry import parser, run
from maya.splits import SplitSettings, make_splits

log = logging.getLogger("make_splits")


def main(args):
    settings = SplitSettings(val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                             speaker_disjoint=args.speaker_disjoint, text_disjoint=args.text_disjoint,
                             min_speakers=args.min_speakers, salt=args.salt)
    report = make_splits(args.manifests, args.out_dir, settings)
    for lang, s in report["languages"].items():
        log.info("%s: train %d, val %d, test %d clips; excluded %s", lang, s["train"]["clips"], s["val"]["clips"],
                 s["test"]["clips"], s["excluded"] or "none")


def build_parser():
    p = parser(__doc__)
    p.add_argument("--manifests", nargs="+", required=True, help="results/manifests/{corpus}/{lang}.parquet files")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument("--speaker-disjoint", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--text-disjoint", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--min-speakers", type=int, default=10)
    p.add_argument("--salt", default="maya-splits-v1")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
