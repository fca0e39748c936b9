"""Synthesise one shard of the Maya ASR demo corpus in the production layout.

Writes {root}/lang={lang}/shard_{index:05d}/ with audio.tar (FLAC), audio_index.parquet,
manifest.json and metadata.parquet. Speech is eSpeak NG reading the project's own sentences
with several pseudo-speakers; the output is byte-identical for the same arguments.
"""

import json

from maya.config import section_defaults
from maya.corpus.demo import synthesise_shard
from maya.entry import parser, run


def main(args):
    s = {**section_defaults("demo_corpus"), **json.loads(args.settings)}
    synthesise_shard(
        args.root,
        args.lang,
        args.shard_index,
        s["clips_per_shard"],
        s["speakers_per_language"],
        s["seed"],
        sample_rate=s["sample_rate"],
        noise_snr_db=tuple(s["noise_snr_db"]),
        rate_wpm=tuple(s["rate_wpm"]),
    )


def build_parser():
    p = parser(__doc__)
    p.add_argument("--root", required=True, help="corpus root (holds the lang=xx/ folders)")
    p.add_argument("--lang", required=True, help="language code, e.g. hi")
    p.add_argument("--shard-index", type=int, required=True, help="shard number (0-based)")
    p.add_argument(
        "--settings",
        default="{}",
        help="config.demo_corpus as JSON: clips_per_shard, "
        "speakers_per_language, seed, sample_rate, noise_snr_db, rate_wpm (the schema's defaults otherwise)",
    )
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
