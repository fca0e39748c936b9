"""One tidy table of every (stage, test set, decoder, language): WER/CER with CIs, S/D/I, RTFx."""

import csv
import json
from pathlib import Path

from maya.entry import parser, run


def main(args):
    from maya.evaluation import summary_rows

    rows = []
    for scores, rtfx in zip(args.scores, args.rtfx, strict=True):
        stage, testset, decoder = Path(scores).parent.parts[-3:]
        rows += summary_rows(
            stage, testset, decoder, json.loads(Path(scores).read_text()), json.loads(Path(rtfx).read_text())
        )
    if not rows:
        raise SystemExit("error: no scored utterances in any test set")
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--scores", nargs="+", required=True, help="results/eval/{stage}/{testset}/{decoder}/scores.json")
    p.add_argument("--rtfx", nargs="+", required=True, help="the matching rtfx.json files, same order")
    p.add_argument("--out", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
