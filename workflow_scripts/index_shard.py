"""Index and QC one shard: its offset index, QC report and quarantined rows.

Walks the tar headers (no payload reads) to get every member's byte range, joins the metadata
rows, then checks every clip (names, text, audio, duration, text rate, checksums). Clips that fail
are quarantined with a reason code, never dropped. A shard that cannot be read at all, or whose
reading raises, is reported as failed and this step still succeeds, so one bad shard never stops
the others. Shard names are data: pass them as ``--shard=NAME`` (a name may start with ``-``).
"""

import json
import logging
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq

from maya.entry import parser, run
from maya.names import printable
from maya.qc import QCSettings, index_shard

log = logging.getLogger("index_shard")


def main(args):
    settings = QCSettings(**json.loads(args.settings))
    result = index_shard(args.format, args.corpus, args.root, args.lang, args.shard,
                         json.loads(args.columns_json), settings)
    for out in (args.index, args.report, args.quarantine):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(result.index, args.index)
    pq.write_table(result.quarantine, args.quarantine)
    Path(args.report).write_text(json.dumps(result.report, indent=1, ensure_ascii=False) + "\n")
    r = result.report
    log.info("%s/%s/%s: %s, %d clips in, %d kept, quarantined %s", args.corpus, args.lang, printable(args.shard),
             r["status"], r["clips_in"], r["clips_kept"], r["quarantined_by_reason"] or "none")
    for p in r["problems"]:
        log.warning("%s: %s", p["code"], p["detail"])


def build_parser():
    p = parser(__doc__)
    p.add_argument("--settings", default=json.dumps(asdict(QCSettings())),
                   help="QC settings as JSON (config.qc + data limits; the rule passes them)")
    p.add_argument("--corpus", required=True, help="corpus name (from config)")
    p.add_argument("--format", required=True, help="corpus format, e.g. final_export")
    p.add_argument("--root", required=True, help="corpus root")
    p.add_argument("--lang", required=True)
    p.add_argument("--shard", required=True, help="shard id (directory name); use --shard=NAME")
    p.add_argument("--columns-json", default="{}", help="canonical->on-disk metadata column names")
    p.add_argument("--index", required=True, help="output: offset index (Parquet)")
    p.add_argument("--report", required=True, help="output: QC report (JSON)")
    p.add_argument("--quarantine", required=True, help="output: quarantined rows (Parquet)")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
