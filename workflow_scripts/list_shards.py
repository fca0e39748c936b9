"""List every shard of a corpus as a TSV (lang, shard_id).

For the final_export layout only directory names are read; whether a shard's files are usable is
decided by QC. Other formats (ljspeech, nemo_manifest) list their pseudo-shards.
"""

import logging

from maya.adapters import adapter_for
from maya.corpus.listing import write_listing
from maya.entry import parser, run

log = logging.getLogger("list_shards")


def main(args):
    shards = adapter_for(args.format).discover(args.root, args.languages)
    n = write_listing(args.output, shards)
    per_lang = {}
    for lang, _ in shards:
        per_lang[lang] = per_lang.get(lang, 0) + 1
    log.info("%d shards under %s: %s", n, args.root, per_lang)
    missing = [lang for lang in args.languages if lang not in per_lang]
    if missing:
        log.warning("no shards for languages %s under %s", missing, args.root)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--root", required=True, help="corpus root (holds the lang=xx/ folders)")
    p.add_argument("--format", default="final_export", help="corpus format")
    p.add_argument("--languages", nargs="+", required=True, help="language codes to list")
    p.add_argument("--output", required=True, help="TSV to write")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
