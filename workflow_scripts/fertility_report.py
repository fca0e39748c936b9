"""Tokens per word per language for the Stage-1 BPE and the Gemma tokenizer, on this corpus'
held-out text, next to the build guide's published Gemma-3 figures (JSON and CSV)."""

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq

from maya.entry import parser, run
from maya.tokenizers import fertility_report


def main(args):
    texts = {}
    for path in args.text:
        t = pq.read_table(path, columns=["language", "text_norm"])
        for lang, s in zip(t.column("language").to_pylist(), t.column("text_norm").to_pylist(), strict=True):
            texts.setdefault(lang, set()).add(s)
    texts = {lang: sorted(v) for lang, v in texts.items()}
    report = fertility_report(args.bpe, args.gemma, texts)
    Path(args.json).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(report["rows"][0]))
        w.writeheader()
        w.writerows(report["rows"])


def build_parser():
    p = parser(__doc__)
    p.add_argument("--bpe", required=True, help="Stage-1 tokenizer dir")
    p.add_argument("--gemma", required=True, help="Gemma tokenizer dir")
    p.add_argument("--text", nargs="+", required=True, help="split Parquet files whose text_norm to measure")
    p.add_argument("--json", required=True)
    p.add_argument("--csv", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
