"""Index and QC one shard: its offset index, QC report and quarantined rows.

Walks the tar headers (no payload reads) to get every member's byte range, joins the metadata
rows, then checks every clip (names, text, audio, duration, text rate, checksums). Clips that fail
are quarantined with a reason code, never dropped. A shard that cannot be read at all, or whose
reading raises, is reported as failed and this step still succeeds, so one bad shard never stops
the others. The shard comes as one JSON ``--job`` (shard names are data: one may start with ``-``
or hold quotes), which is what the ``index_shard`` rule passes:

  {"corpus": "maya", "format": "final_export", "root": "/data/shards", "lang": "hi",
   "shard": "shard_00000", "columns": {}, "settings": {...}}

``columns`` maps canonical metadata column names to the shard's own (optional); ``settings`` are
QC settings (``config.qc`` + data limits; what is left out takes the config schema's default).
"""

import json
import logging
from pathlib import Path

import pyarrow.parquet as pq

from maya.entry import parser, run
from maya.errors import MayaError
from maya.names import printable
from maya.qc import QCSettings, index_shard

log = logging.getLogger("index_shard")


JOB_KEYS = ("corpus", "format", "root", "lang", "shard")


def main(args):
    try:
        job = json.loads(args.job)
        missing = [k for k in JOB_KEYS if not isinstance(job.get(k), str)]
    except (json.JSONDecodeError, AttributeError) as e:
        raise MayaError(f"--job: not a JSON object ({e})") from None
    if missing:
        raise MayaError(f"--job: missing or not a string: {', '.join(missing)}")
    try:
        settings = QCSettings(**job.get("settings", {}))
    except TypeError as e:
        raise MayaError(f"--job: settings: {e}") from None
    result = index_shard(
        job["format"], job["corpus"], job["root"], job["lang"], job["shard"], job.get("columns") or {}, settings
    )
    for out in (args.index, args.report, args.quarantine):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(result.index, args.index)
    pq.write_table(result.quarantine, args.quarantine)
    Path(args.report).write_text(json.dumps(result.report, indent=1, ensure_ascii=False) + "\n")
    r = result.report
    log.info(
        "%s/%s/%s: %s, %d clips in, %d kept, quarantined %s",
        job["corpus"],
        job["lang"],
        printable(job["shard"]),
        r["status"],
        r["clips_in"],
        r["clips_kept"],
        r["quarantined_by_reason"] or "none",
    )
    for p in r["problems"]:
        log.warning("%s: %s", p["code"], p["detail"])


def build_parser():
    p = parser(__doc__)
    p.add_argument("--job", required=True, help="the shard and its QC settings as one JSON object (see above)")
    p.add_argument("--index", required=True, help="output: offset index (Parquet)")
    p.add_argument("--report", required=True, help="output: QC report (JSON)")
    p.add_argument("--quarantine", required=True, help="output: quarantined rows (Parquet)")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
