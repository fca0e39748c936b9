"""NeMo Lhotse input_cfg.yaml over the ORIGINAL shard tars: per shard a symlink audio_N.tar and a
manifest_N.jsonl of its train members, balancing weights and lang tags per entry, and
skip_missing_manifest_entries so non-train members are read past, not yielded."""

import json
from pathlib import Path

from maya.entry import parser, run
from maya.lhotse_inputs import write_input_cfg


def main(args):
    weights = json.loads(Path(args.weights).read_text())
    w = {(e["corpus"], e["language"]): e["weight"] for e in weights["entries"]}
    write_input_cfg(args.train, w, args.out_dir)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--train", required=True, help="results/splits/train.parquet")
    p.add_argument("--weights", required=True, help="results/balance/weights.json")
    p.add_argument("--out-dir", required=True, help="writes input_cfg.yaml, manifests and tar links here")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
