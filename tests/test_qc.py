"""Shard QC on generated broken shards: each problem gets its reason, every valid clip is kept,
counts reconcile, and nothing raises."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from maya.adapters import adapter_for
from maya.corpus.broken import EXPECTED, KINDS, make_broken_corpus
from maya.corpus.demo import synthesise_shard
from maya.qc import QCSettings, qc_shard, summarise, threshold_violations

FE = adapter_for("final_export")


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    make_broken_corpus(root)
    return root


def run_qc(root, shard, **settings):
    return qc_shard(FE.scan("broken", str(root), "hi", shard), QCSettings(**settings))


def test_discovery_lists_every_kind_including_the_odd_name(broken):
    assert sorted(s for _, s in FE.discover(str(broken), ["hi", "ta"])) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_gets_its_verdict(broken, kind):
    status, by_reason, extra = EXPECTED[kind]
    result = qc_shard(FE.scan("broken", str(broken), "hi", kind))
    r = result.report
    assert r["status"] == status
    assert r["quarantined_by_reason"] == by_reason
    assert r["clips_in"] == r["clips_kept"] + sum(r["quarantined_by_reason"].values())
    for code in extra.get("problems", []):
        assert code in {p["code"] for p in r["problems"]}
    for k, n in extra.get("repaired", {}).items():
        assert r["repaired"][k] == n
    q = result.quarantine
    assert q.num_rows == r["clips_quarantined"]
    assert all(q.column("qc_detail").to_pylist())  # every quarantined row says why
    if status == "failed":
        assert r["failure"]["detail"] and str(broken) in r["failure"]["detail"]


def test_valid_clips_of_damaged_shards_are_kept(broken):
    # Members before the truncation point survive; the rest are accounted for.
    r = run_qc(broken, "truncated_tar").report
    assert (r["clips_kept"], r["clips_quarantined"]) == (3, 3)
    kept = run_qc(broken, "bad_text").index.filter(
        pa.compute.is_null(run_qc(broken, "bad_text").index.column("qc_reason"))
    )
    # The one clip with a decomposed nukta is kept, NFC-normalised.
    assert kept.column("transcript").to_pylist() == ["\u0929ई दिल्ली में बारिश हुई।"]


def test_header_only_mode_skips_decoding(broken):
    fast = run_qc(broken, "bad_flac", decode=False, checksums=False).report
    assert fast["quarantined_by_reason"] == {}  # the damaged member keeps a valid FLAC header...
    assert run_qc(broken, "bad_flac").report["quarantined_by_reason"] == {"decode_error": 1}  # ...decoding finds it


def test_summary_reconciles_and_limits(broken):
    reports = [run_qc(broken, k).report for k in KINDS]
    s = summarise(reports)
    t = s["total"]
    failed = {k for k, (status, _, _) in EXPECTED.items() if status == "failed"}
    assert t["shards"] == len(KINDS) and t["shards_failed"] == len(failed) == 4
    assert t["clips_in"] == t["clips_kept"] + t["clips_quarantined"]
    assert t["clips_quarantined"] == sum(t["quarantined_by_reason"].values())
    assert (
        {f["shard_id"] for f in t["failed_shards"]}
        == failed
        == {"garbage_tar", "missing_column", "missing_files", "transcript_int"}
    )
    assert s["corpora"]["broken"]["languages"]["hi"]["clips_kept"] == t["clips_kept"]
    ok = {"broken": {"max_failed_shard_fraction": 0.5, "max_quarantined_clip_fraction": 0.5}}
    assert threshold_violations(s, ok) == []
    strict = {"broken": {"max_failed_shard_fraction": 0.05, "max_quarantined_clip_fraction": 0.1}}
    v = threshold_violations(s, strict)
    assert len(v) == 2 and f"4 of {len(KINDS)} shards failed" in v[0]


def test_column_mapping_reads_renamed_columns(tmp_path):
    d = synthesise_shard(tmp_path, "ta", 0, clips_per_shard=3, speakers_per_language=2, seed=1)
    t = pq.read_table(d / "metadata.parquet")
    pq.write_table(t.rename_columns(["id", "sentence", "dur", *t.column_names[3:]]), d / "metadata.parquet")
    unmapped = qc_shard(FE.scan("c", str(tmp_path), "ta", "shard_00000")).report
    assert unmapped["status"] == "failed" and "map names with `columns:`" in unmapped["failure"]["detail"]
    mapped = qc_shard(
        FE.scan(
            "c",
            str(tmp_path),
            "ta",
            "shard_00000",
            columns={"segment_id": "id", "transcript": "sentence", "duration_s": "dur"},
        )
    )
    assert mapped.report["clips_kept"] == 3
    assert json.dumps(mapped.report)  # JSON-serialisable
