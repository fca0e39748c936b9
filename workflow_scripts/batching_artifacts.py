"""The train split's clip table (token ids under the Stage-1 tokenizer; memory-mapped by Stage 1)
and the duration bins the sampler reads: 1-D buckets on the configured edges and 2-D duration x tokens bins."""

import json
import logging
from pathlib import Path

from maya.batching import batching_artifacts, bucket_batch_sizes, write_train_clips
from maya.entry import parser, run

log = logging.getLogger("batching_artifacts")


def main(args):
    from maya.stage1.modules import model_summary

    table = write_train_clips(args.train, args.tokenizer, args.out_clips)
    b = json.loads(args.settings)
    bins = batching_artifacts(
        table, b["bucket_edges_s"], b["num_buckets"], b["num_subbuckets"], b["subsampling_factor"]
    )
    n_params = model_summary(b["model"], table.meta["vocab_size"], b["num_languages"])["total"]
    bins["bucket_batch_size"] = bucket_batch_sizes(
        bins["bucket_duration_bins_2d"], b["model"], n_params, table.meta["vocab_size"], b["gpu_memory_budget_gb"]
    )
    bins["bucket_batch_size_budget_gb"] = b["gpu_memory_budget_gb"]
    Path(args.out_bins).write_text(json.dumps(bins, indent=1) + "\n")
    for lang, v in bins["tokens_per_encoder_frame"]["by_language"].items():
        log.info("%s: tokens per encoder frame p50 %.2f p95 %.2f max %.2f", lang, v["p50"], v["p95"], v["max"])
    for w in bins["tokens_per_encoder_frame"]["warnings"]:
        log.warning(w)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--train", required=True)
    p.add_argument("--tokenizer", required=True, help="Stage-1 tokenizer dir")
    p.add_argument(
        "--settings",
        required=True,
        help="config.batching + data.bucket_edges_s + stage1.model, "
        "the sampler's gpu_memory_budget_gb and the language count as JSON (the rule passes them)",
    )
    p.add_argument("--out-clips", required=True, help="clip table (Arrow IPC, maya.clip_table)")
    p.add_argument("--out-bins", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
