"""Language balancing weights for the train split (temperature sampling or two-stage
upsampling, with a corpus-within-language tier) as weights.json, plus hours per language
before/after as a CSV table."""

import csv
import json
from pathlib import Path

from maya.balance import BalanceSettings, balance, train_hours
from maya.entry import parser, run


def main(args):
    out = balance(train_hours(args.train), BalanceSettings(**json.loads(args.settings)))
    Path(args.weights).write_text(json.dumps(out, indent=1) + "\n")
    with open(args.table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["language", "hours_before", "share_before", "share_after", "hours_after"])
        for lang, v in out["languages"].items():
            w.writerow(
                [lang, v["hours_before"], round(v["share_before"], 5), round(v["share_after"], 5), v["hours_after"]]
            )


def build_parser():
    p = parser(__doc__)
    p.add_argument("--train", required=True, help="results/splits/train.parquet")
    p.add_argument("--settings", default="{}", help="config.balance as JSON (the schema's defaults otherwise)")
    p.add_argument("--weights", required=True, help="output weights.json")
    p.add_argument("--table", required=True, help="output hours-per-language CSV")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
