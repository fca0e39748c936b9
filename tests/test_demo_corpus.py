"""The demo corpus: production shard layout, determinism, decodable FLAC, the project's own text."""

import io
import json
import tarfile
import unicodedata

import pyarrow.parquet as pq
import pytest
import soundfile as sf

from maya.corpus.demo import MIN_SENTENCES_PER_LANGUAGE, load_sentences, speakers_for, synthesise_shard
from maya.shard_schema import AUDIO_INDEX_SCHEMA, LANGUAGES, METADATA_SCHEMA, SHARD_FILES
from maya.shard_writer import sha256_file

# The main Unicode script block of each language (letters only are checked).
SCRIPT_RANGES = {
    "as": (0x0980, 0x09FF),
    "bn": (0x0980, 0x09FF),
    "en": (0x0041, 0x007A),
    "gu": (0x0A80, 0x0AFF),
    "hi": (0x0900, 0x097F),
    "kn": (0x0C80, 0x0CFF),
    "ml": (0x0D00, 0x0D7F),
    "mr": (0x0900, 0x097F),
    "or": (0x0B00, 0x0B7F),
    "pa": (0x0A00, 0x0A7F),
    "ta": (0x0B80, 0x0BFF),
    "te": (0x0C00, 0x0C7F),
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_language_has_enough_native_script_sentences(lang):
    sentences = load_sentences(lang)
    assert len({s.text for s in sentences}) >= MIN_SENTENCES_PER_LANGUAGE
    lo, hi = SCRIPT_RANGES[lang]
    for s in sentences:
        letters = [c for c in s.text if unicodedata.category(c).startswith(("L", "M"))]
        in_script = sum(lo <= ord(c) <= hi for c in letters)
        assert in_script / len(letters) >= 0.95, (lang, s.text)


def test_speakers_are_deterministic_and_distinct():
    a, b = speakers_for("hi", 6, 7), speakers_for("hi", 6, 7)
    assert a == b
    assert len({(s.voice.variant, s.voice.rate, s.voice.pitch) for s in a}) == 6
    assert {s.voice.gender for s in a} == {"male", "female"}


def test_speaking_rates_stay_in_the_configured_range():
    rates = [s.voice.rate for s in speakers_for("hi", 40, 7, rate_wpm=(95, 100))]
    assert min(rates) >= 95 and max(rates) <= 100 and len(set(rates)) > 1
    assert speakers_for("hi", 6, 7) == speakers_for("hi", 6, 7, rate_wpm=(125, 185))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    roots = [tmp_path_factory.mktemp(f"run{i}") for i in range(2)]
    dirs = [synthesise_shard(r, "ta", 3, clips_per_shard=6, speakers_per_language=3, seed=11) for r in roots]
    return dirs


def test_same_seed_gives_byte_identical_shards(two_runs):
    a, b = two_runs
    for name in SHARD_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_other_seed_gives_other_audio(tmp_path, two_runs):
    other = synthesise_shard(tmp_path, "ta", 3, clips_per_shard=6, speakers_per_language=3, seed=12)
    assert sha256_file(other / "audio.tar") != sha256_file(two_runs[0] / "audio.tar")


def test_shard_layout_and_schema(two_runs):
    shard = two_runs[0]
    assert shard.name == "shard_00003" and shard.parent.name == "lang=ta"
    assert sorted(p.name for p in shard.iterdir()) == sorted(SHARD_FILES)
    meta = pq.read_table(shard / "metadata.parquet")
    index = pq.read_table(shard / "audio_index.parquet")
    assert meta.schema.equals(METADATA_SCHEMA) and index.schema.equals(AUDIO_INDEX_SCHEMA)
    rows = meta.to_pylist()
    assert len(rows) == 6 and len({r["segment_id"] for r in rows}) == 6
    assert all(r["language"] == "ta" and r["transcript"] and r["sample_rate"] == 16000 for r in rows)
    manifest = json.loads((shard / "manifest.json").read_text())
    assert manifest["num_segments"] == 6 and manifest["language"] == "ta"
    for name, facts in manifest["files"].items():
        assert sha256_file(shard / name) == facts["sha256"]
    assert manifest["total_duration_s"] == pytest.approx(sum(r["duration_s"] for r in rows), abs=1e-2)


def test_index_offsets_point_at_flac_that_decodes_to_stated_duration(two_runs):
    shard = two_runs[0]
    meta = {r["segment_id"]: r for r in pq.read_table(shard / "metadata.parquet").to_pylist()}
    manifest = json.loads((shard / "manifest.json").read_text())
    with tarfile.open(shard / "audio.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
    raw = (shard / "audio.tar").read_bytes()
    for row in pq.read_table(shard / "audio_index.parquet").to_pylist():
        assert members[row["member"]].offset_data == row["offset"]
        blob = raw[row["offset"] : row["offset"] + row["nbytes"]]
        import hashlib

        assert hashlib.sha256(blob).hexdigest() == manifest["member_sha256"][row["member"]]
        audio, sr = sf.read(io.BytesIO(blob))
        assert sr == 16000 and audio.ndim == 1
        assert len(audio) / sr == pytest.approx(meta[row["segment_id"]]["duration_s"], abs=1e-3)
        assert 0.5 < len(audio) / sr < 20


def test_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        load_sentences("xx")
