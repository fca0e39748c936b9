"""Language balancing weights for the train split (temperature sampling or two-stage
upsampling, with a corpus-within-language tier) as weights.json, plus hours per language
before/after as a CSV table."""

import csv
import json
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from maya.balance import BalanceSettings, balance
from maya.entry import parser, run


def main(args):
    t = pq.read_table(args.train, columns=["corpus", "language", "duration_s", "decoded_duration_s"])
    hours = defaultdict(float)
    for c, l, d, dd in zip(*(t.column(n).to_pylist() for n in t.column_names)):
        hours[(c, l)] += (dd or d or 0.0) / 3600
    out = balance(hours, BalanceSettings(args.method, args.temperature, args.corpus_temperature))
    Path(args.weights).write_text(json.dumps(out, indent=1) + "\n")
    with open(args.table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["language", "hours_before", "share_before", "share_after", "hours_after"])
        for lang, v in out["languages"].items():
            w.writerow([lang, v["hours_before"], round(v["share_before"], 5), round(v["share_after"], 5), v["hours_after"]])


def build_parser():
    p = parser(__doc__)
    p.add_argument("--train", required=True, help="results/splits/train.parquet")
    p.add_argument("--method", default="temperature", choices=["temperature", "two_stage_upsampling"])
    p.add_argument("--temperature", type=float, default=0.3)
    p.add_argument("--corpus-temperature", type=float, default=0.5)
    p.add_argument("--weights", required=True, help="output weights.json")
    p.add_argument("--table", required=True, help="output hours-per-language CSV")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
