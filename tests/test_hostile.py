"""A hostile corpus never stops the workflow: names from data stay data, a shard whose reading
raises is a failed shard (not a failed job), clips that would hurt training are quarantined with
their reason, duplicates across shards are kept once, and nothing is written outside the
workflow's folders."""

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from maya.corpus.broken import (
    CLIPS,
    EXPECTED,
    KINDS,
    ODD_NAME,
    OPTION_LIKE_NAMES,
    UNCARRIABLE_NAMES,
    make_broken_corpus,
    make_broken_shard,
    make_named_shard,
)
from maya.corpus.listing import scan_shard_dirs
from maya.dedup import ShardIndex, apply_to_summary_reports, find_duplicates
from maya.manifests import materialise_flac
from maya.names import printable, safe_join, unsafe_name, wildcard_problem
from maya.qc import QCSettings, index_shard, summarise
from tests.helpers import copy_repo, snakemake, write_config

BAD_UTF8 = os.fsdecode(b"latin1-\xe9t\xe9")
LOOPS = {"self_loop": "self_loop", "lang_loop": ".", "up_loop": ".."}  # link name -> target


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    make_broken_corpus(root)
    return root


def qc_all(root, shards, settings=None):
    settings = settings or QCSettings()
    return {s: index_shard("final_export", "broken", str(root), "hi", s, {}, settings) for s in shards}


# ---- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x.flac", "a/../../b", "/etc/passwd", "x\\..\\y", "", "a\nb"])
def test_unsafe_names_are_refused(name, tmp_path):
    assert unsafe_name(name)
    with pytest.raises(ValueError, match="refusing to write"):
        safe_join(tmp_path, name)


@pytest.mark.parametrize("name", ["hi_0001", "sub/dir/x.flac", "shard (copy) #2 – ü", "-n", "..x", "x..y"])
def test_ordinary_names_pass(name):
    assert unsafe_name(name) is None


@pytest.mark.parametrize("name", ["a{b}", "x}", "new\nline", "tab\there", ".hidden", " lead", BAD_UTF8])
def test_names_snakemake_cannot_carry(name):
    assert wildcard_problem(name)
    assert "\n" not in printable(name) and "\t" not in printable(name)


@pytest.mark.parametrize("name", ["--help", "-n", "shard_00001", "shard (copy) #2 – ü", "a;rm -rf x", "$(id)"])
def test_names_snakemake_can_carry(name):
    assert wildcard_problem(name) is None


def test_discovery_skips_uncarriable_names_with_the_reason(tmp_path):
    for name in ["ok", "--help", *UNCARRIABLE_NAMES, BAD_UTF8, "x" * 240]:
        (tmp_path / "lang=hi" / name).mkdir(parents=True)
    (tmp_path / "lang=hi" / "gone").symlink_to(tmp_path / "nowhere")
    (tmp_path / "lang=hi" / "README.txt").write_text("not a shard")
    shards, skipped = scan_shard_dirs(tmp_path, ["hi"])
    assert shards == [("hi", "--help"), ("hi", "ok")]
    reasons = {s["directory"].rsplit("/", 1)[1][:20]: s["reason"] for s in skipped}
    assert "file name limit" in reasons["x" * 20] and reasons["gone"] == "symbolic link to nothing"
    assert len(skipped) == len(UNCARRIABLE_NAMES) + 3
    assert all(s["reason"] and s["directory"].startswith(str(tmp_path)) for s in skipped)
    assert any("latin1-\\xe9t\\xe9" in s["directory"] and "UTF-8" in s["reason"] for s in skipped)


# ---- per-shard verdicts ----------------------------------------------------------------------


def test_new_fault_kinds_have_named_details(broken):
    results = qc_all(
        broken,
        ["lengths", "text_rate", "bad_samples", "unsafe_names", "string_durations", "manifest_types", "transcript_int"],
    )
    q = {k: r.quarantine.to_pylist() for k, r in results.items()}
    details = {k: " | ".join(row["qc_detail"] for row in rows) for k, rows in q.items()}
    assert "data.max_duration_s" in details["lengths"] and "data.min_duration_s" in details["lengths"]
    assert "qc.max_chars_per_s" in details["text_rate"]
    assert "NaN or infinite" in details["bad_samples"] and "every sample is zero" in details["bad_samples"]
    assert "'../../escaped_clip.flac'" in details["unsafe_names"] and "absolute" in details["unsafe_names"]
    problems = {k: " | ".join(p["detail"] for p in r.report["problems"]) for k, r in results.items()}
    assert "metadata.parquet" in problems["string_durations"] and "duration_s" in problems["string_durations"]
    assert "'n/a'" in problems["string_durations"]
    assert "manifest.json: field member_sha256 is a JSON array" in problems["manifest_types"]
    assert "column transcript is int64" in results["transcript_int"].report["failure"]["detail"]


def test_control_characters_are_removed_from_transcripts(tmp_path):
    d = make_broken_shard(tmp_path, "resampled")
    meta = pq.read_table(d / "metadata.parquet").to_pylist()
    meta[0]["transcript"] = meta[0]["transcript"][:5] + "\x00\x07" + meta[0]["transcript"][5:]
    meta[1]["transcript"] = "\x00\x01 \x1f"
    pq.write_table(pa.Table.from_pylist(meta, schema=pq.read_schema(d / "metadata.parquet")), d / "metadata.parquet")
    r = index_shard("final_export", "c", str(tmp_path), "hi", "resampled", {}, QCSettings(checksums=False))
    assert r.report["repaired"]["control_characters"] == 2
    assert r.report["quarantined_by_reason"] == {"empty_transcript": 1}
    assert not any(c < " " for t in r.index.column("transcript").to_pylist() for c in t)


def test_nan_durations_are_repaired_from_the_audio_never_nan(broken):
    r = qc_all(broken, ["nan_durations"])["nan_durations"]
    assert r.report["clips_kept"] == CLIPS and r.report["hours_in"] > 0
    d = r.index.column("duration_s").to_pylist()
    assert all(x is not None and x > 0 for x in d)
    s = summarise([r.report])
    assert s["total"]["hours_in"] == pytest.approx(s["total"]["hours_kept"]) and s["total"]["hours_in"] > 0


def test_a_shard_whose_reading_raises_is_a_failed_shard(tmp_path):
    # A real pathology: a column mapping that names a column the file also has under the canonical
    # name makes two `transcript` columns; pyarrow raises when the reader asks for it.
    d = make_broken_shard(tmp_path, "resampled")
    meta = pq.read_table(d / "metadata.parquet")
    pq.write_table(meta.append_column("text", meta.column("transcript")), d / "metadata.parquet")
    r = index_shard("final_export", "broken", str(tmp_path), "hi", "resampled", {"transcript": "text"}, QCSettings())
    rep = r.report
    assert rep["status"] == "failed" and rep["failure"]["code"] == "unreadable_shard"
    assert f"{tmp_path}/lang=hi/resampled" in rep["failure"]["detail"]
    assert rep["clips_in"] == CLIPS == rep["clips_quarantined"]  # counted from metadata.parquet's footer


def test_index_shard_entry_point_takes_option_like_names(tmp_path):
    import subprocess
    import sys

    from tests.helpers import REPO

    make_named_shard(tmp_path / "corpus", "--help", 1)
    out = tmp_path / "out"
    job = {"corpus": "c", "format": "final_export", "root": str(tmp_path / "corpus"), "lang": "hi", "shard": "--help"}
    script = str(REPO / "workflow_scripts/index_shard.py")
    outputs = [f"--index={out}/i.parquet", f"--report={out}/r.json", f"--quarantine={out}/q.parquet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, script, f"--job={json.dumps(job)}", *outputs], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "r.json").read_text())["clips_kept"] == CLIPS
    # A malformed job is one line naming what is wrong, not a traceback.
    for bad, says in [
        ("[1]", "not a JSON object"),
        (json.dumps({**job, "lang": 3}), "lang"),
        (json.dumps({**job, "settings": {"decod": False}}), "decod"),
    ]:
        proc = subprocess.run(
            [sys.executable, script, f"--job={bad}", *outputs], capture_output=True, text=True, env=env
        )
        assert proc.returncode == 1 and proc.stderr.strip().startswith("error: --job") and says in proc.stderr, (
            proc.stderr
        )
        assert len(proc.stderr.strip().splitlines()) == 1


# ---- across shards ------------------------------------------------------------------------------


def test_duplicates_across_shards_keep_the_first_copy(broken):
    results = qc_all(broken, KINDS)
    shards = []
    for k in sorted(KINDS):  # catalog order
        p = broken.parent / f"idx-{KINDS.index(k)}.parquet"
        pq.write_table(results[k].index, p)
        shards.append(ShardIndex("broken", "hi", k, str(p)))
    dups = find_duplicates(shards)
    assert dups.num_rows == CLIPS
    assert set(dups.column("shard_id").to_pylist()) == {ODD_NAME}  # "duplicate_shard" sorts first
    assert set(dups.column("kept_shard_id").to_pylist()) == {"duplicate_shard"}
    reports = [results[k].report for k in sorted(KINDS)]
    apply_to_summary_reports(reports, dups)
    t = summarise(reports)["total"]
    assert t["quarantined_by_reason"]["duplicate_across_shards"] == CLIPS
    assert t["clips_in"] == t["clips_kept"] + t["clips_quarantined"]


def test_same_audio_under_another_id_is_a_duplicate(broken, tmp_path):
    results = qc_all(broken, ["durations", ODD_NAME])
    a = results["durations"].index
    b = results[ODD_NAME].index
    # Same bytes as the first kept clip of `durations`, under a fresh id in another shard.
    row = a.filter(pa.compute.is_null(a.column("qc_reason"))).slice(0, 1).to_pylist()[0]
    b = pa.concat_tables(
        [b, pa.Table.from_pylist([dict(row, shard_id=ODD_NAME, segment_id="fresh_id")], schema=b.schema)]
    )
    pq.write_table(a, tmp_path / "a.parquet")
    pq.write_table(b, tmp_path / "b.parquet")
    dups = find_duplicates(
        [
            ShardIndex("broken", "hi", "durations", str(tmp_path / "a.parquet")),
            ShardIndex("broken", "hi", ODD_NAME, str(tmp_path / "b.parquet")),
        ]
    )
    assert dups.to_pylist() == [
        {
            "corpus": "broken",
            "language": "hi",
            "shard_id": ODD_NAME,
            "segment_id": "fresh_id",
            "key": "audio_sha256",
            "seconds": pytest.approx(row["decoded_duration_s"]),
            "kept_corpus": "broken",
            "kept_language": "hi",
            "kept_shard_id": "durations",
            "kept_segment_id": row["segment_id"],
        }
    ]


def test_materialise_flac_keeps_shards_apart_and_refuses_escapes(broken, tmp_path):
    results = qc_all(broken, ["duplicate_shard", ODD_NAME])
    rows = [r for k in ("duplicate_shard", ODD_NAME) for r in results[k].index.to_pylist()]
    entries = materialise_flac(rows, tmp_path / "flac")
    assert len({e["audio_filepath"] for e in entries}) == len(rows) == 2 * CLIPS  # equal ids, distinct files
    assert all(Path(e["audio_filepath"]).resolve().is_relative_to((tmp_path / "flac").resolve()) for e in entries)
    with pytest.raises(ValueError, match="refusing to write"):
        materialise_flac([dict(rows[0], segment_id="../../escaped")], tmp_path / "flac2")
    assert not (tmp_path / "escaped.flac").exists()


# ---- the workflow on an on-disk hostile corpus, through Stage 1 ---------------------------------


@pytest.mark.workflow
def test_workflow_survives_a_hostile_corpus(tmp_path):
    """Every broken kind plus option-like and uncarriable directory names, as a corpus on disk, next
    to a one-language demo corpus: QC and Stage 1 finish, every valid clip is kept, every bad one is
    quarantined with its reason, and nothing is written outside results/, logs/ and .snakemake/."""
    repo = copy_repo(tmp_path / "repo")
    hostile = tmp_path / "hostile"  # outside the repo: a corpus is read-only input
    make_broken_corpus(hostile)
    for i, name in enumerate(OPTION_LIKE_NAMES):
        make_named_shard(hostile, name, i)
    for i, name in enumerate([*UNCARRIABLE_NAMES, BAD_UTF8]):
        make_named_shard(hostile, name, 10 + i)
    # Filesystem damage that once stopped the DAG: links that loop, to themselves or to their own
    # language directory and above. Each is a skipped directory with the error, the rest is planned.
    for name, target in LOOPS.items():
        (hostile / "lang=hi" / name).symlink_to(target)
    write_config(
        repo / "hostile.yaml",
        {
            "languages": ["hi"],
            "corpora": [
                {"name": "demo", "format": "final_export", "root": "results/corpus/demo", "synthesise": "demo"},
                {
                    "name": "hostile",
                    "format": "final_export",
                    "root": str(hostile),
                    "max_failed_shard_fraction": 0.5,
                    "max_quarantined_clip_fraction": 0.6,
                },
            ],
            "demo_corpus": {"clips_per_shard": 24, "shards_per_language": 1, "speakers_per_language": 2},
            "stage1": {
                "trainer": {
                    "max_steps": 2,
                    "val_check_interval": 2,
                    "checkpoint_every_n_steps": 2,
                    "log_every_n_steps": 1,
                }
            },
        },
    )
    before_repo = set(os.listdir(repo))
    before_corpus = sorted((str(p), p.lstat().st_mtime_ns) for p in hostile.rglob("*"))
    before_outside = set(os.listdir(tmp_path))

    snakemake(repo, "results/stage1/final.nemo", "--cores", "2", "--configfile", "hostile.yaml")

    s = json.loads((repo / "results/qc/summary.json").read_text())
    t = s["corpora"]["hostile"]["total"]
    expected = Counter()
    for _, by_reason, _ in EXPECTED.values():
        expected.update(by_reason)
    expected["duplicate_across_shards"] += CLIPS
    assert t["quarantined_by_reason"] == dict(sorted(expected.items()))
    assert t["clips_in"] == t["clips_kept"] + t["clips_quarantined"]
    # Valid clips: every clip of every shard, less the faulty ones (orphans/bad_text add rows).
    n_in = sum(
        json.loads((repo / f"results/qc/hostile/hi/{k}.json").read_text())["clips_in"]
        for k in [*KINDS, *OPTION_LIKE_NAMES]
    )
    assert t["clips_in"] == n_in and t["clips_kept"] == n_in - sum(expected.values())
    for name in OPTION_LIKE_NAMES:
        assert json.loads((repo / f"results/qc/hostile/hi/{name}.json").read_text())["clips_kept"] == CLIPS
    skipped = {Path(x["directory"]).name: x["reason"] for x in t["skipped_shards"]}
    assert len(skipped) == len(UNCARRIABLE_NAMES) + 1 + len(LOOPS)
    assert "ELOOP" in skipped["self_loop"] and "a loop" in skipped["up_loop"] and "a loop" in skipped["lang_loop"]
    print("hostile corpus:", json.dumps({k: t[k] for k in ("clips_in", "clips_kept", "quarantined_by_reason")}))
    assert all(str(hostile) in x["directory"] for x in s["total"]["skipped_shards"])
    assert s["total"]["duplicates_across_shards"]["clips"] == CLIPS
    # The manifest holds exactly the kept clips; Stage 1 trained on them.
    assert pq.read_metadata(repo / "results/manifests/hostile/hi.parquet").num_rows == t["clips_kept"]
    train = json.loads((repo / "results/stage1/train_summary.json").read_text())
    assert train["steps"] == 2 and train["train_clips"] > 0
    # Nothing outside the workflow's folders: no new top-level entries in the repo, none beside it,
    # the corpus untouched, and no escaped clip anywhere.
    assert set(os.listdir(repo)) - before_repo <= {"results", "logs", ".snakemake"}
    assert set(os.listdir(tmp_path)) == before_outside
    assert sorted((str(p), p.lstat().st_mtime_ns) for p in hostile.rglob("*")) == before_corpus
    assert not list(tmp_path.rglob("escaped_clip.flac")) and not Path("/tmp/absolute_clip.flac").exists()


def test_filesystem_errors_while_listing_are_skipped_directories(tmp_path, monkeypatch):
    """Loops, dangling links, a file where a language directory belongs and a directory that cannot
    be listed are each reported with the errno and path; every other shard is still listed."""
    import errno

    from maya.corpus import listing

    for lang in ("hi", "ta", "bn"):
        (tmp_path / f"lang={lang}" / "ok").mkdir(parents=True)
    for name, target in LOOPS.items():
        (tmp_path / "lang=hi" / name).symlink_to(target)
    (tmp_path / "lang=hi" / "gone").symlink_to(tmp_path / "nowhere")
    (tmp_path / "lang=te").write_text("a file where a directory belongs")
    (tmp_path / "lang=mr").symlink_to("lang=mr")
    real_scandir = os.scandir

    def scandir(path):  # root ignores permissions: simulate an unreadable directory
        if str(path).endswith("lang=bn"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(listing.os, "scandir", scandir)
    shards, skipped = listing.scan_shard_dirs(tmp_path, ["hi", "ta", "bn", "te", "mr", "gu"])
    assert shards == [("hi", "ok"), ("ta", "ok")]
    reasons = {Path(s["directory"]).name: s["reason"] for s in skipped}
    assert reasons["self_loop"].startswith("cannot be read: ELOOP") and "self_loop" in reasons["self_loop"]
    assert reasons["lang_loop"] == reasons["up_loop"] == "symbolic link to its own language directory or above (a loop)"
    assert reasons["gone"] == "symbolic link to nothing"
    assert reasons["lang=te"] == "language directory is a file, not a directory"
    assert reasons["lang=mr"].startswith("language directory unreadable: ELOOP")
    assert reasons["lang=bn"] == f"language directory unreadable: EACCES (Permission denied): {tmp_path}/lang=bn"


def test_a_shard_that_vanishes_after_listing_plans_and_fails_alone(tmp_path):
    """Between the listing and the job, a shard directory disappears: its inputs and stamp are
    computed without raising, and its job reports a failed shard, naming what is missing."""
    from maya.adapters import adapter_for

    fe = adapter_for("final_export")
    make_named_shard(tmp_path, "here", 0)
    make_named_shard(tmp_path, "vanishing", 1)
    assert fe.discover(str(tmp_path), ["hi"]) == [("hi", "here"), ("hi", "vanishing")]
    shutil.rmtree(tmp_path / "lang=hi" / "vanishing")
    assert fe.shard_inputs(str(tmp_path), "hi", "vanishing") == []
    assert fe.shard_stamp(str(tmp_path), "hi", "vanishing").count(":-") == 3
    report = index_shard("final_export", "broken", str(tmp_path), "hi", "vanishing", {}, QCSettings()).report
    assert report["status"] == "failed" and "audio.tar is missing" in report["problems"][0]["detail"]
