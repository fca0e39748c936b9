"""Stage 3's clips (maya/stage3.py): per language the cleanest top_fraction of the train split, by
text-rate plausibility over every clip, then Stage-1 CTC agreement (CER) over a pool of the most
plausible ones. Writes the chosen clips with their scores (train.parquet: the split's columns plus
rate_deviation and stage1_cer) and a per-language summary (subset.json)."""

import json
from pathlib import Path

from maya.entry import parser, run


def main(args):
    import numpy as np
    import torch

    from maya.evaluation import decode_testset, read_hypotheses
    from maya.stage1.inference import load_model
    from maya.stage3 import choose, pool_rows, quotas, rate_scores, write_rows

    settings = json.loads(args.settings)
    s, ev = settings["stage3"], settings["eval"]
    device = ev["device"] if ev["device"] != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    code, dev, langs = rate_scores(args.train)
    quota = quotas(code, len(langs), s["top_fraction"])
    pool = pool_rows(code, dev, quota, s["pool_factor"])
    write_rows(args.train, pool, out / "pool.parquet", {"rate_deviation": dev[pool]})
    model = load_model(args.model, device)
    decode_testset(
        model,
        out / "pool.parquet",
        "ctc",
        out / "pool_hyps.jsonl",
        batch_size=ev["batch_size"],
        lang_hint=True,
        progress=not args.no_progress,
    )
    hyps = read_hypotheses(out / "pool_hyps.jsonl")
    keep, cer = choose(out / "pool.parquet", hyps, dict(zip(langs, quota.tolist(), strict=True)))
    write_rows(out / "pool.parquet", keep, args.out, {"stage1_cer": cer[keep]})
    pool_lang = np.array([h["lang"] for h in hyps])
    summary = {
        "settings": s,
        "languages": {
            lang: {
                "train_clips": int((code == c).sum()),
                "quota": int(quota[c]),
                "pool": int((pool_lang == lang).sum()),
                "pool_mean_cer": float(cer[pool_lang == lang].mean()) if (pool_lang == lang).any() else None,
                "chosen_mean_cer": float(cer[keep][pool_lang[keep] == lang].mean())
                if (pool_lang[keep] == lang).any()
                else None,
            }
            for c, lang in enumerate(langs)
        },
    }
    Path(args.summary).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{args.out}: {len(keep)} of {len(code)} train clips")


def build_parser():
    p = parser(__doc__)
    p.add_argument("--settings", required=True, help='JSON: {"stage3": config stage3, "eval": {batch_size, device}}')
    p.add_argument("--train", required=True, help="the train split (results/splits/train.parquet)")
    p.add_argument("--model", required=True, help="Stage-1 model (results/stage1/final.nemo)")
    p.add_argument("--out", required=True, help="chosen clips (results/stage3/train.parquet)")
    p.add_argument("--summary", required=True, help="per-language summary JSON")
    p.add_argument("--out-dir", required=True, help="scratch: the scored pool and its hypotheses")
    p.add_argument("--no-progress", action="store_true")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
