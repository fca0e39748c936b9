"""Write one deliberately damaged shard (production layout) for QC demonstrations and tests.

Kinds: truncated_tar, garbage_tar, bad_flac, orphans, missing_column, bad_text, checksums,
resampled, durations, missing_files, and a valid shard with an awkward directory name.
"""

from maya.corpus.broken import KINDS, make_broken_shard
from maya.entry import parser, run


def main(args):
    make_broken_shard(args.root, args.kind, args.seed)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--root", required=True, help="corpus root")
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--seed", type=int, default=5)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
