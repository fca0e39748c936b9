"""Corpus formats other than the shard layout: LJSpeech (real clips) and NeMo manifests."""

import json
import shutil

import pytest
import soundfile as sf

from maya.adapters import adapter_for
from maya.audio.reader import AudioRef, TarOffsetReader
from maya.manifests import build_manifest
from maya.qc import qc_shard
from tests.helpers import SHARED_DATA

LJ = SHARED_DATA / "real_speech" / "ljspeech_mini"
needs_lj = pytest.mark.skipif(not (LJ / "metadata.csv").is_file(), reason="shared LJSpeech clips absent")


@needs_lj
def test_ljspeech_adapter_on_real_clips(tmp_path):
    a = adapter_for("ljspeech")
    assert a.discover(str(LJ), ["en", "hi"]) == [("en", "ljspeech")]
    result = qc_shard(a.scan("lj", str(LJ), "en", "ljspeech"))
    r = result.report
    assert r["clips_in"] == 32 and r["clips_kept"] == 32, r["quarantined_by_reason"]
    assert r["repaired"]["resampled"] == 32  # 22.05 kHz sources
    assert 200 < r["hours_kept"] * 3600 < 245
    row = result.index.to_pylist()[0]
    assert row["member"] is None and row["source_sample_rate"] == 22050
    assert row["transcript"].startswith("Printing, in the only sense")
    audio = TarOffsetReader(16000).read(AudioRef(row["audio_path"]))
    assert len(audio) / 16000 == pytest.approx(row["decoded_duration_s"], abs=2e-3)
    out = build_manifest([_write(tmp_path, result.index)], tmp_path / "m.parquet", tmp_path / "m.jsonl")
    assert out["clips"] == 32
    first = json.loads((tmp_path / "m.jsonl").read_text().splitlines()[0])
    assert first["audio_filepath"].endswith("LJ001-0001.wav") and "tar_offset" not in first


@needs_lj
def test_ljspeech_missing_wav_is_quarantined(tmp_path):
    root = tmp_path / "lj"
    shutil.copytree(LJ, root)
    (root / "wavs" / "LJ001-0003.wav").unlink()
    r = qc_shard(adapter_for("ljspeech").scan("lj", str(root), "en", "ljspeech")).report
    assert r["quarantined_by_reason"] == {"missing_audio": 1} and r["clips_kept"] == 31


def _write(tmp_path, table):
    import pyarrow.parquet as pq

    p = tmp_path / "index.parquet"
    pq.write_table(table, p)
    return p


def test_nemo_manifest_adapter(tmp_path):
    import numpy as np

    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    lines = []
    for i, lang in enumerate(["hi", "hi", "ta"]):
        sf.write(audio_dir / f"c{i}.wav", np.zeros(8000 + 1600 * i, dtype=np.float32) + 0.01, 16000)
        lines.append(
            {
                "audio_filepath": f"audio/c{i}.wav",
                "duration": 0.5 + 0.1 * i,
                "text": "नमस्ते" if lang == "hi" else "வணக்கம்",
                "lang": lang,
            }
        )
    lines.append({"audio_filepath": "audio/missing.wav", "duration": 1.0, "text": "नमस्ते", "lang": "hi"})
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    a = adapter_for("nemo_manifest")
    assert a.discover(str(manifest), ["hi", "ta"]) == [("hi", "manifest"), ("ta", "manifest")]
    r = qc_shard(a.scan("nm", str(manifest), "hi", "manifest")).report
    assert (r["clips_in"], r["clips_kept"], r["quarantined_by_reason"]) == (3, 2, {"missing_audio": 1})
