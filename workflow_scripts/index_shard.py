"""Index and QC one shard: its offset index, QC report and quarantined rows.

Walks the tar headers (no payload reads) to get every member's byte range, joins the metadata
rows, then checks every clip (decode, duration, transcript, language, script, checksums). Clips
that fail are quarantined with a reason code, never dropped. A shard that cannot be read at all is
reported as failed and this step still succeeds, so one bad shard never stops the others.
"""

import argparse
import json
import logging
from pathlib import Path

import pyarrow.parquet as pq

from maya.adapters import adapter_for
from maya.entry import parser, run
from maya.qc import QCSettings, qc_shard

log = logging.getLogger("index_shard")


def main(args):
    scan = adapter_for(args.format).scan(args.corpus, args.root, args.lang, args.shard,
                                         columns=json.loads(args.columns_json))
    settings = QCSettings(decode=args.decode, checksums=args.checksums,
                          duration_tolerance_s=args.duration_tolerance_s,
                          min_script_fraction=args.min_script_fraction, sample_rate=args.sample_rate)
    result = qc_shard(scan, settings)
    for out in (args.index, args.report, args.quarantine):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(result.index, args.index)
    pq.write_table(result.quarantine, args.quarantine)
    Path(args.report).write_text(json.dumps(result.report, indent=1, ensure_ascii=False) + "\n")
    r = result.report
    log.info("%s/%s/%s: %s, %d clips in, %d kept, quarantined %s", args.corpus, args.lang, args.shard,
             r["status"], r["clips_in"], r["clips_kept"], r["quarantined_by_reason"] or "none")
    for p in r["problems"]:
        log.warning("%s: %s", p["code"], p["detail"])


def build_parser():
    p = parser(__doc__)
    p.add_argument("--corpus", required=True, help="corpus name (from config)")
    p.add_argument("--format", required=True, help="corpus format, e.g. final_export")
    p.add_argument("--root", required=True, help="corpus root")
    p.add_argument("--lang", required=True)
    p.add_argument("--shard", required=True, help="shard id (directory name)")
    p.add_argument("--columns-json", default="{}", help="canonical->on-disk metadata column names")
    p.add_argument("--decode", action=argparse.BooleanOptionalAction, default=True,
                   help="decode every clip (default) or read headers only")
    p.add_argument("--checksums", action=argparse.BooleanOptionalAction, default=True,
                   help="verify sha256 of files and members against manifest.json")
    p.add_argument("--duration-tolerance-s", type=float, default=0.1)
    p.add_argument("--min-script-fraction", type=float, default=0.5)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--index", required=True, help="output: offset index (Parquet)")
    p.add_argument("--report", required=True, help="output: QC report (JSON)")
    p.add_argument("--quarantine", required=True, help="output: quarantined rows (Parquet)")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
