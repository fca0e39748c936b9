"""Aggregate per-shard QC reports into results/qc/summary.json and enforce the failure limits.

Per corpus and language: shards ok/degraded/failed (with reasons), directories skipped because
their names cannot be shard ids, clips in/kept/quarantined by reason, hours in/kept. Clips found
in more than one shard (same segment id in a corpus, or same audio bytes anywhere) are kept once,
the first in catalog order; the others are listed in results/qc/duplicates.parquet and counted as
``duplicate_across_shards``. Exits non-zero, naming the corpus and the numbers, when a corpus has
more failed shards or quarantined clips than its configured limit.
"""

import json
import logging
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from maya.corpus.listing import read_listing
from maya.dedup import ShardIndex, apply_to_summary_reports, find_duplicates
from maya.entry import parser, run
from maya.errors import MayaError
from maya.qc import empty_counts, summarise, threshold_violations

log = logging.getLogger("qc_summary")


def main(args):
    shards = [
        ShardIndex(corpus, lang, shard, str(Path(args.index_dir) / corpus / lang / f"{shard}.parquet"))
        for corpus, listing in (x.split("=", 1) for x in args.listing)
        for lang, shard in read_listing(listing)
    ]
    reports = [
        json.loads((Path(args.qc_dir) / s.corpus / s.language / f"{s.shard_id}.json").read_text("utf-8"))
        for s in shards
    ]
    dups = find_duplicates(shards)
    apply_to_summary_reports(reports, dups)
    Path(args.duplicates).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(dups, args.duplicates)
    summary = summarise(reports)
    skipped = {s.split("=", 1)[0]: json.loads(Path(s.split("=", 1)[1]).read_text("utf-8")) for s in args.skipped}
    summary["total"]["skipped_shards"] = [dict(s, corpus=c) for c, ss in skipped.items() for s in ss]
    for corpus, ss in skipped.items():
        summary["corpora"].setdefault(corpus, {"total": empty_counts(), "languages": {}})["total"]["skipped_shards"] = (
            ss
        )
    keys = pc.value_counts(dups.column("key")).to_pylist() if dups.num_rows else []
    summary["total"]["duplicates_across_shards"] = {
        "clips": dups.num_rows,
        "by_key": {k["values"]: k["counts"] for k in keys},
        "examples": dups.slice(0, 10).to_pylist(),
    }
    limits = json.loads(args.limits_json)
    violations = threshold_violations(summary, limits)
    summary["violations"] = violations  # limits themselves go to the log: changing them alone
    log.info("limits: %s", limits)  # must not rewrite the summary and so rebuild the manifests
    Path(args.output).write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    t = summary["total"]
    log.info(
        "%d shards (%d ok, %d degraded, %d failed, %d skipped); %d clips in, %d kept, %d quarantined %s; %.2f h kept",
        t["shards"],
        t["shards_ok"],
        t["shards_degraded"],
        t["shards_failed"],
        len(t["skipped_shards"]),
        t["clips_in"],
        t["clips_kept"],
        t["clips_quarantined"],
        t["quarantined_by_reason"],
        t["hours_kept"],
    )
    for f in t["failed_shards"]:
        log.warning("failed shard %s/%s: %s (%s)", f["language"], f["shard_id"], f["code"], f["detail"])
    for s in t["skipped_shards"]:
        log.warning("skipped shard directory %s: %s", s["directory"], s["reason"])
    if dups.num_rows:
        log.warning(
            "%d clips duplicate a clip of an earlier shard (%s), e.g. %s",
            dups.num_rows,
            t["duplicates_across_shards"]["by_key"],
            dups.slice(0, 1).to_pylist()[0],
        )
    if violations:
        Path(args.output).unlink()
        raise MayaError(
            "QC limits exceeded:\n  "
            + "\n  ".join(violations)
            + "\n(per-shard reports: results/qc/{corpus}/{lang}/{shard}.json)"
        )


def build_parser():
    p = parser(__doc__)
    p.add_argument(
        "--listing",
        nargs="+",
        required=True,
        metavar="CORPUS=TSV",
        help="each corpus with its shard listing, in catalog order, e.g. demo=results/shards/demo.tsv",
    )
    p.add_argument(
        "--skipped",
        nargs="*",
        default=[],
        metavar="CORPUS=JSON",
        help="each corpus with its skipped shard directories (list_shards' second output)",
    )
    p.add_argument(
        "--limits-json",
        required=True,
        help='{"corpus": {"max_failed_shard_fraction": f, "max_quarantined_clip_fraction": f}}',
    )
    p.add_argument("--qc-dir", required=True, help="holds {corpus}/{lang}/{shard}.json")
    p.add_argument("--index-dir", required=True, help="holds {corpus}/{lang}/{shard}.parquet")
    p.add_argument("--output", required=True, help="summary JSON to write")
    p.add_argument("--duplicates", required=True, help="Parquet to write: clips quarantined as duplicates")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
