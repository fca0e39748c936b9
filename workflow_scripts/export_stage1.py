"""Write the stock-NeMo copy of a Stage-1 model (maya/stage1/export.py): NeMo's own
EncDecHybridRNNTCTCBPEModel with the same weights minus the language embedding, which
`EncDecHybridRNNTCTCBPEModel.restore_from(path)` loads where `maya` is not installed."""

import json

from maya.entry import parser, run


def main(args):
    from maya.stage1.export import export_stock

    info = export_stock(args.model, args.tokenizer, args.out)
    print(json.dumps(info))


def build_parser():
    p = parser(__doc__)
    p.add_argument("--model", required=True, help="Stage-1 .nemo (results/stage1/final.nemo)")
    p.add_argument("--tokenizer", required=True, help="the Stage-1 SentencePiece dir it was trained with")
    p.add_argument("--out", required=True, help="the stock-NeMo .nemo to write")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
