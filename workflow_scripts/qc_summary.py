"""Aggregate per-shard QC reports into results/qc/summary.json and enforce the failure limits.

Per corpus and language: shards ok/degraded/failed (with reasons), clips in/kept/quarantined by
reason, hours in/kept. Reads one small JSON per shard (listed by the corpus' shard listing), so it
streams at any corpus size. Exits non-zero, naming the corpus and the numbers, when a corpus has
more failed shards or quarantined clips than its configured limit.
"""

import json
import logging
from pathlib import Path

from maya.corpus.listing import read_listing
from maya.entry import parser, run
from maya.errors import MayaError
from maya.qc import summarise, threshold_violations

log = logging.getLogger("qc_summary")


def reports(qc_dir, corpus_listings):
    for corpus, listing in corpus_listings:
        for lang, shard in read_listing(listing):
            path = Path(qc_dir) / corpus / lang / f"{shard}.json"
            yield json.loads(path.read_text("utf-8"))


def main(args):
    pairs = [tuple(x.split("=", 1)) for x in args.listing]
    summary = summarise(reports(args.qc_dir, pairs))
    limits = json.loads(args.limits_json)
    violations = threshold_violations(summary, limits)
    summary["violations"] = violations  # limits themselves go to the log: changing them alone
    log.info("limits: %s", limits)  # must not rewrite the summary and so rebuild the manifests
    Path(args.output).write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    t = summary["total"]
    log.info("%d shards (%d ok, %d degraded, %d failed); %d clips in, %d kept, %d quarantined %s; %.2f h kept",
             t["shards"], t["shards_ok"], t["shards_degraded"], t["shards_failed"], t["clips_in"],
             t["clips_kept"], t["clips_quarantined"], t["quarantined_by_reason"], t["hours_kept"])
    for f in t["failed_shards"]:
        log.warning("failed shard %s/%s: %s (%s)", f["language"], f["shard_id"], f["code"], f["detail"])
    if violations:
        Path(args.output).unlink()
        raise MayaError("QC limits exceeded:\n  " + "\n  ".join(violations) +
                        "\n(per-shard reports: results/qc/{corpus}/{lang}/{shard}.json)")


def build_parser():
    p = parser(__doc__)
    p.add_argument("--listing", nargs="+", required=True, metavar="CORPUS=TSV",
                   help="each corpus with its shard listing, e.g. demo=results/shards/demo.tsv")
    p.add_argument("--limits-json", required=True,
                   help='{"corpus": {"max_failed_shard_fraction": f, "max_quarantined_clip_fraction": f}}')
    p.add_argument("--qc-dir", default="results/qc", help="holds {corpus}/{lang}/{shard}.json")
    p.add_argument("--output", required=True)
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
