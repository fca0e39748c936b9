"""Per-rule code fingerprints follow imports into maya/, and only there."""

import shutil

from maya.fingerprint import code_files, code_fingerprint
from tests.helpers import REPO


def names(files):
    return {str(f) for f in files}


def test_synthesis_script_reaches_its_library_modules():
    files = names(code_files(REPO, "workflow_scripts/synthesise_demo_shard.py"))
    assert {
        "workflow_scripts/synthesise_demo_shard.py",
        "maya/corpus/demo.py",
        "maya/espeak.py",
        "maya/shard_writer.py",
        "maya/shard_schema.py",
        "maya/entry.py",
        "maya/errors.py",
        "maya/__init__.py",
        "maya/corpus/__init__.py",
    } <= files
    assert "maya/corpus/listing.py" not in files


def test_aggregation_scripts_do_not_reach_synthesis_or_qc_code():
    files = names(code_files(REPO, "workflow_scripts/build_manifest.py"))
    assert {"maya/manifests.py", "maya/corpus/listing.py"} <= files
    assert not files & {"maya/corpus/demo.py", "maya/espeak.py", "maya/qc.py"}
    files = names(code_files(REPO, "workflow_scripts/qc_summary.py"))
    assert "maya/qc.py" in files and "maya/espeak.py" not in files


def test_fingerprint_changes_with_imported_code_only(tmp_path):
    repo = tmp_path / "r"
    shutil.copytree(REPO / "maya", repo / "maya", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "workflow_scripts", repo / "workflow_scripts")
    before_synth = code_fingerprint(repo, "workflow_scripts/synthesise_demo_shard.py")
    before_manifest = code_fingerprint(repo, "workflow_scripts/build_manifest.py")
    with open(repo / "maya/espeak.py", "a") as f:
        f.write("\n# changed\n")
    code_fingerprint.cache_clear()
    assert code_fingerprint(repo, "workflow_scripts/synthesise_demo_shard.py") != before_synth
    assert code_fingerprint(repo, "workflow_scripts/build_manifest.py") == before_manifest
