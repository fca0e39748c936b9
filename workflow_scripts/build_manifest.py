"""Build one corpus-language manifest of kept clips: Parquet and NeMo JSONL.

Streams the shard offset indexes of the language (listed by the corpus' shard listing), keeps the
rows QC did not quarantine (nor qc_summary's cross-shard duplicates), and writes both formats
side by side.
"""

import logging
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from maya.corpus.listing import read_listing
from maya.entry import parser, run
from maya.manifests import build_manifest

log = logging.getLogger("build_manifest")


def main(args):
    shards = [s for lang, s in read_listing(args.listing) if lang == args.lang]
    paths = [Path(args.index_dir) / args.lang / f"{s}.parquet" for s in shards]
    dups = pq.read_table(args.duplicates)
    dups = dups.filter(
        pc.and_(pc.equal(dups.column("corpus"), args.corpus), pc.equal(dups.column("language"), args.lang))
    )
    stats = build_manifest(paths, args.parquet, args.jsonl, duplicates=dups)
    log.info(
        "%s: %d shards -> %d clips, %.3f h (%d cross-shard duplicates left out)",
        args.lang,
        len(paths),
        stats["clips"],
        stats["hours"],
        dups.num_rows,
    )


def build_parser():
    p = parser(__doc__)
    p.add_argument("--corpus", required=True, help="corpus name")
    p.add_argument("--listing", required=True, help="the corpus' shard listing TSV")
    p.add_argument("--duplicates", required=True, help="qc_summary's cross-shard duplicates (Parquet)")
    p.add_argument("--lang", required=True)
    p.add_argument("--index-dir", required=True, help="results/index/{corpus}")
    p.add_argument("--parquet", required=True, help="output Parquet manifest")
    p.add_argument("--jsonl", required=True, help="output NeMo JSONL manifest")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
