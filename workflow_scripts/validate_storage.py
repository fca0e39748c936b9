"""End-to-end check of the checkpoint store (the seed README's `make validate-r2`): a multipart-sized
object and a small one are uploaded with the same code training uses, verified (size, ETag, SHA-256,
manifest), downloaded and compared, listed and deleted; upload and download MB/s are recorded. Fails,
naming the store and the error, when any step does."""

import json

from maya.entry import parser, run
from maya.errors import MayaError


def main(args):
    from maya.readiness import write_report
    from maya.storage import StorageSettings, probe, validate_store

    s = StorageSettings.from_config(json.loads(args.storage))
    if not s.bucket:
        raise MayaError("storage.bucket is empty: set it (and storage.endpoint_url for R2 or MinIO) in the config")
    problems = probe(s)
    if problems:
        raise MayaError("storage validation failed:\n  - " + "\n  - ".join(problems))
    report = validate_store(s, big_mb=args.big_mb)
    if not report["ok"]:
        raise MayaError(f"storage validation failed: {json.dumps(report)}")
    write_report(report, args.out)


def build_parser():
    p = parser(__doc__)
    p.add_argument("--storage", required=True, help="JSON: the storage config section (no credentials)")
    p.add_argument("--big-mb", type=int, help="size of the multipart object (default: 2 parts + 1 MB)")
    p.add_argument("--out", required=True, help="the report (JSON)")
    return p


if __name__ == "__main__":
    raise SystemExit(run(main, build_parser()))
