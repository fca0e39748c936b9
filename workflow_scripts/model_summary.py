"""Print the Stage-1 network's parameters per component (encoder, TDT decoder, TDT joint, CTC head,
language embedding), counted on NeMo's real modules with every weight on the meta device, and the
Stage-2 network's (encoder, projection, LLM) on the meta device too.

  python workflow_scripts/model_summary.py --configfile config.yaml config/prod.yaml
"""

import json
from pathlib import Path

import yaml

from maya.config import deep_update, validate_config
from maya.entry import parser, run
from maya.stage1.memory import plan
from maya.stage1.modules import model_summary
from maya.stage2.llm import stage2_summary


def main(args):
    cfg = {}
    for path in args.configfile:
        cfg = deep_update(cfg, yaml.safe_load(Path(path).read_text()))
    cfg = validate_config(cfg)
    vocab = args.vocab_size or cfg["tokenizer"]["vocab_size"]
    counts = model_summary(cfg["stage1"]["model"], vocab, len(cfg["languages"]))
    samp = cfg["stage1"]["sampler"]
    mem = plan(
        cfg["stage1"]["model"],
        counts["total"],
        vocab,
        samp["max_batch_duration_s"],
        cfg["data"]["bucket_edges_s"][-1],
        samp["gpu_memory_budget_gb"],
    )
    mem["configured_token_cap"] = samp["max_tokens_in_batch"]
    s2 = stage2_summary(
        cfg["stage1"]["model"]["d_model"],
        counts["encoder"],
        cfg["stage2"]["llm"],
        1 + len(cfg["languages"]),
        cfg["stage2"]["projection_downsample"],
    )
    if args.json:
        print(json.dumps({**counts, "memory": mem, "stage2": s2}))
        return
    model = cfg["stage1"]["model"]
    print(f"Stage-1 network ({model['n_layers']} layers, d_model {model['d_model']}, vocab {vocab})")
    for name, n in counts.items():
        print(f"  {name:<16} {n:>15,}  ({n / 1e6:,.1f} M)")
    print(
        f"Memory model, one GPU with {mem['budget_gb']:.0f} GB, a {samp['max_batch_duration_s']:.0f} s micro-batch "
        f"of {mem['batch_at_cap']} x {cfg['data']['bucket_edges_s'][-1]:.0f} s clips "
        f"({mem['frames_per_clip']} frames each):"
    )
    print(
        f"  weights+grads+AdamW {mem['static_gb']:.1f} GB, encoder activations {mem['encoder_activations_gb']:.1f} GB, "
        f"joint {mem['joint_gb_per_100_tokens']:.2f} GB per 100 tokens per clip"
    )
    print(f"  token cap: predicted {mem['predicted_token_cap']:,} vs configured {samp['max_tokens_in_batch']:,}")
    print(f"Stage-2 network (LLM hidden {s2['llm_hidden_size']}, {s2['llm_layers']} layers; {s2['llm_config_from']})")
    for name, n in s2["counts"].items():
        print(f"  {name:<16} {n:>15,}  ({n / 1e6:,.1f} M)")


def build_parser():
    p = parser(__doc__)
    p.add_argument("--configfile", nargs="+", default=["config.yaml"], help="config files, later ones on top")
    p.add_argument("--vocab-size", type=int, default=0, help="override tokenizer.vocab_size")
    p.add_argument("--json", action="store_true")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
