"""The production launch plan (`config/prod.yaml`) on a production-shaped clip table.

The `make bench-scale` corpus: 3,551 shards x 15,000 clips by default (the build guide's language
mix, gamma-distributed 1-20 s clips, ~3.1 tokens per second), every row pointing at a few real FLAC
shards so the loader measurement reads real audio; balanced with the production temperature. The
same table stands in for Stage 2's (Gemma tokens per second differ from the 32K BPE's; the plan
says so). Then `maya.plan.launch_plan` with the production config, printed as Markdown.

    python -m benchmarks.plan_prod                      # full size (~6 GB scratch in results/bench/plan)
    python -m benchmarks.plan_prod --clips-per-shard 1000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.scale import real_shards, synth_split, synthetic_encoder  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", type=int, default=3551)
    p.add_argument("--clips-per-shard", type=int, default=15000)
    p.add_argument("--work", default=str(REPO / "results/bench/plan"), help="scratch folder")
    p.add_argument("--out", default=str(REPO / "results/bench/plan/launch_plan_prod"), help="JSON/MD stem")
    a = p.parse_args(argv)

    from maya.balance import BalanceSettings, balance
    from maya.clip_table import write_clip_table
    from maya.config import deep_update, validate_config
    from maya.plan import launch_plan, model_sizes, write

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    clips = a.shards * a.clips_per_shard
    refs = real_shards(work / "shards")
    split = synth_split(work / f"train_{clips}.parquet", clips, refs)
    table = work / f"train_clips_{clips}.arrow"
    if not table.exists():
        write_clip_table(split, table, synthetic_encoder, 32000)
    import pyarrow.parquet as pq

    per_lang = (
        pq.read_table(split, columns=["language", "duration_s"]).group_by("language").aggregate([("duration_s", "sum")])
    )
    hours = {
        ("maya", str(lang)): s / 3600 for lang, s in zip(*(per_lang.column(i).to_pylist() for i in (0, 1)), strict=True)
    }
    cfg = validate_config(
        deep_update(
            yaml.safe_load((REPO / "config.yaml").read_text()), yaml.safe_load((REPO / "config/prod.yaml").read_text())
        )
    )
    weights = work / "weights.json"
    weights.write_text(json.dumps(balance(hours, BalanceSettings(**cfg["balance"])), indent=1))
    sizes, llm = model_sizes(cfg)
    plan = launch_plan(cfg, table, table, weights, sizes, llm, None, 6)
    plan["corpus"] = {
        "clips": clips,
        "shards": a.shards,
        "note": "synthetic production-shaped table (make bench-scale)",
    }
    write(plan, f"{a.out}.json", f"{a.out}.md")
    print(Path(f"{a.out}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
