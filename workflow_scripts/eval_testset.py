"""An external test set (a corpus with `use: eval`) as one Parquet of its QC'd clips."""

from maya.entry import parser, run


def main(args):
    from maya.evaluation import testset_from_manifests

    print(testset_from_manifests(args.manifests, args.out))


def build_parser():
    p = parser(__doc__)
    p.add_argument("--manifests", nargs="+", required=True, help="results/manifests/{corpus}/{lang}.parquet files")
    p.add_argument("--out", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
