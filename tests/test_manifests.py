"""Manifests: kept clips only, NeMo fields, and FLAC materialisation for stock NeMo tools."""

import json

import pyarrow.parquet as pq
import pytest
import soundfile as sf

from maya.adapters import adapter_for
from maya.corpus.broken import make_broken_shard
from maya.manifests import build_manifest, materialise_flac
from maya.qc import qc_shard


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    root = tmp_path_factory.mktemp("c")
    paths = []
    for kind in ("bad_text", "resampled"):
        make_broken_shard(root, kind)
        result = qc_shard(adapter_for("final_export").scan("c", str(root), "hi", kind))
        p = root / f"{kind}.parquet"
        pq.write_table(result.index, p)
        paths.append(p)
    return paths


def test_manifest_holds_kept_clips_in_both_formats(indexes, tmp_path):
    stats = build_manifest(indexes, tmp_path / "m.parquet", tmp_path / "m.jsonl")
    assert stats["clips"] == 1 + 6  # bad_text keeps one clip, resampled keeps all six
    table = pq.read_table(tmp_path / "m.parquet")
    assert "qc_reason" not in table.column_names and table.num_rows == 7
    lines = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [x["segment_id"] for x in lines] == table.column("segment_id").to_pylist()
    for x in lines:
        assert x["taskname"] == "asr" and x["lang"] == x["source_lang"] == x["target_lang"] == "hi"
        assert x["audio_filepath"].endswith(".flac") and x["tar_nbytes"] > 0 and x["duration"] > 0


def test_materialised_flac_is_16k_mono_and_matches_duration(indexes, tmp_path):
    rows = pq.read_table(indexes[1]).to_pylist()[:2]  # the 44.1 kHz stereo shard
    entries = materialise_flac(rows, tmp_path / "flac")
    for entry, row in zip(entries, rows, strict=True):
        info = sf.info(entry["audio_filepath"])
        assert (info.samplerate, info.channels) == (16000, 1)
        assert entry["duration"] == pytest.approx(row["decoded_duration_s"], abs=2e-3)
        assert "tar_path" not in entry
