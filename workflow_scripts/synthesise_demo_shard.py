"""Synthesise one shard of the Maya ASR demo corpus in the production layout.

Writes {root}/lang={lang}/shard_{index:05d}/ with audio.tar (FLAC), audio_index.parquet,
manifest.json and metadata.parquet. Speech is eSpeak NG reading the project's own sentences
with several pseudo-speakers; the output is byte-identical for the same arguments.
"""

from maya.corpus.demo import synthesise_shard
from maya.entry import parser, run


def main(args):
    synthesise_shard(
        args.root, args.lang, args.shard_index, args.clips, args.speakers, args.seed,
        sample_rate=args.sample_rate, noise_snr_db=tuple(args.snr_db),
    )


def build_parser():
    p = parser(__doc__)
    p.add_argument("--root", required=True, help="corpus root (holds the lang=xx/ folders)")
    p.add_argument("--lang", required=True, help="language code, e.g. hi")
    p.add_argument("--shard-index", type=int, required=True, help="shard number (0-based)")
    p.add_argument("--clips", type=int, default=80, help="clips in the shard")
    p.add_argument("--speakers", type=int, default=6, help="pseudo-speakers per language")
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--snr-db", type=float, nargs=2, default=(30.0, 45.0),
                   help="range of the added background noise's SNR")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
