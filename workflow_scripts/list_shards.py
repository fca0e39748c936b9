"""Record the shards of one corpus as a TSV (lang, shard_id), and the directories that cannot be
shards (names Snakemake cannot carry) as JSON with the reason for each.

The same function decides the shard set for the workflow's DAG, so this file is exactly what
the per-shard jobs were planned from. For corpora on disk only directory names are read; whether
a shard's files are usable is QC's job.
"""

import json
import logging
from pathlib import Path

from maya.corpus.catalog import corpus_shards, skipped_shards
from maya.corpus.listing import write_listing
from maya.entry import parser, run

log = logging.getLogger("list_shards")


def main(args):
    corpus = json.loads(args.corpus_json)
    shards = corpus_shards(corpus, args.languages, args.shards_per_language)
    n = write_listing(args.output, shards)
    per_lang = {}
    for lang, _ in shards:
        per_lang[lang] = per_lang.get(lang, 0) + 1
    log.info("%s: %d shards under %s: %s", corpus["name"], n, corpus["root"], per_lang)
    skipped = skipped_shards(corpus, args.languages)
    Path(args.skipped).write_text(json.dumps(skipped, indent=1, ensure_ascii=False) + "\n")
    for s in skipped:
        log.warning("skipped shard directory %s: %s", s["directory"], s["reason"])
    missing = [lang for lang in args.languages if lang not in per_lang]
    if missing:
        log.warning("no shards for languages %s under %s", missing, corpus["root"])


def build_parser():
    p = parser(__doc__)
    p.add_argument("--corpus-json", required=True, help="the corpus' config entry as JSON")
    p.add_argument("--languages", nargs="+", required=True, help="language codes to list")
    p.add_argument("--shards-per-language", type=int, default=0, help="demo corpus size")
    p.add_argument("--output", required=True, help="TSV to write")
    p.add_argument("--skipped", required=True, help="JSON to write: directories that cannot be shards, and why")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
