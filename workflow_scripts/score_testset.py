"""Score decoded hypotheses: WER and CER per language and overall (jiwer, shared normalisation),
substitutions/deletions/insertions, bootstrap 95 % CIs, top word confusions."""

import json
from pathlib import Path

from maya.config import section_defaults
from maya.entry import parser, run


def main(args):
    from maya.evaluation import read_hypotheses, score_hypotheses

    s = {**section_defaults("eval"), **json.loads(args.settings)}
    scores = score_hypotheses(
        read_hypotheses(args.hyps), s["bootstrap_samples"], s["bootstrap_seed"], s["top_confusions"]
    )
    Path(args.out).write_text(json.dumps(scores, indent=1, ensure_ascii=False) + "\n")
    for lang, s in scores["languages"].items():
        print(
            f"{lang}: WER {100 * s['wer']:.1f} [{100 * s['wer_ci'][0]:.1f}, {100 * s['wer_ci'][1]:.1f}]  "
            f"CER {100 * s['cer']:.1f} [{100 * s['cer_ci'][0]:.1f}, {100 * s['cer_ci'][1]:.1f}]  "
            f"({s['utterances']} utts)"
        )


def build_parser():
    p = parser(__doc__)
    p.add_argument("--hyps", required=True)
    p.add_argument(
        "--settings",
        default="{}",
        help="config.eval's bootstrap_samples, bootstrap_seed, "
        "top_confusions as JSON (the schema's defaults otherwise)",
    )
    p.add_argument("--out", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
