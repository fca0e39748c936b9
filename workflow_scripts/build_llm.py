"""The Stage-2 decoder as a local Hugging Face directory (results/llm/) from stage2.llm: a local HF
dir, gguf-package:MODULE (dequantised once here, so later loads take seconds), or
tiny-random:LAYERSxHIDDEN. Writes llm_info.json (architecture, parameter counts)."""

import json

from maya.entry import parser, run


def main(args):
    from maya.stage2.llm import save_llm

    print(json.dumps(save_llm(args.source, args.out_dir)))


def build_parser():
    p = parser(__doc__)
    p.add_argument("--source", required=True, help="stage2.llm")
    p.add_argument("--out-dir", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
