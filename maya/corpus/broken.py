"""Shards with one kind of damage each, in the production layout, for QC tests and the demo.

Each kind starts from a valid shard of real (eSpeak NG) speech and breaks one thing the way real
exports break: truncated copies, garbage files, undecodable members, rows without audio and audio
without rows, a renamed column, bad transcripts, checksum drift, odd sample rates, wrong durations,
missing files, an awkward directory name. ``EXPECTED`` says what QC must conclude for each.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from maya.corpus.demo import load_sentences, speakers_for
from maya.espeak import synth_batch
from maya.shard_schema import AUDIO_INDEX, AUDIO_TAR, MANIFEST, METADATA, METADATA_SCHEMA
from maya.shard_writer import ShardWriter, encode_flac, sha256_file

LANG = "hi"
CLIPS = 6
ODD_NAME = "shard (copy) #2 – ü"

# kind -> (shard status, {reason: clips}, extra expectations)
EXPECTED = {
    "truncated_tar": ("degraded", {"missing_audio": 3}, {"problems": ["truncated_tar"]}),
    "garbage_tar": ("failed", {"unreadable_tar": CLIPS}, {}),
    "bad_flac": ("degraded", {"decode_error": 1}, {}),
    "orphans": ("degraded", {"orphan_member": 1, "missing_audio": 1}, {}),
    "missing_column": ("failed", {"missing_column": CLIPS}, {}),
    "bad_text": (
        "degraded",
        {
            "empty_transcript": 2,
            "invalid_utf8": 1,
            "wrong_script": 1,
            "language_mismatch": 1,
            "duplicate_segment_id": 1,
        },
        {"repaired": {"nfc": 1}},
    ),
    "checksums": ("degraded", {"checksum_mismatch": 1}, {"problems": ["manifest_count_mismatch"]}),
    "resampled": ("ok", {}, {"repaired": {"resampled": CLIPS}}),
    "durations": ("degraded", {"duration_mismatch": 2}, {}),
    "missing_files": ("failed", {"missing_file": CLIPS}, {}),
    ODD_NAME: ("ok", {}, {}),
    # Clips that decode but would hurt training, and metadata of the wrong type.
    "lengths": ("degraded", {"too_long": 1, "too_short": 1}, {}),
    "text_rate": ("degraded", {"implausible_text_rate": 1}, {}),
    "bad_samples": ("degraded", {"bad_samples": 2}, {}),
    "nan_durations": ("degraded", {}, {"repaired": {"duration_from_audio": 3}, "problems": ["bad_field"]}),
    "string_durations": ("degraded", {}, {"repaired": {"duration_from_audio": 1}, "problems": ["bad_field"]}),
    "manifest_array": ("degraded", {}, {"problems": ["manifest_unreadable"]}),
    "manifest_types": ("degraded", {}, {"problems": ["bad_field"]}),
    "unsafe_names": ("degraded", {"unsafe_name": 3}, {}),
    "transcript_int": ("failed", {"bad_column_type": CLIPS}, {}),
    # Round two: parser failures beyond ValueError, one bad row group, a corrupt tar header in the
    # middle, and an index whose pairing contradicts the member names.
    "deep_manifest": ("degraded", {}, {"problems": ["manifest_unreadable"]}),
    "bad_row_group": ("degraded", {"unreadable_metadata": 2}, {"problems": ["unreadable_metadata"]}),
    "damaged_header": ("degraded", {"missing_audio": 1}, {"problems": ["damaged_tar_header"]}),
    "swapped_pairing": ("degraded", {"ambiguous_pairing": 2}, {"problems": ["ambiguous_pairing"]}),
    # A byte-identical copy of the ODD_NAME shard: kept per shard, quarantined by qc_summary.
    "duplicate_shard": ("ok", {}, {"duplicates_of": ODD_NAME}),
}
KINDS = tuple(EXPECTED)
# Shard directory names that are data, not options or wildcards (see tests: an on-disk corpus).
OPTION_LIKE_NAMES = ("--help", "-n")
UNCARRIABLE_NAMES = ("a{b}", "tab\there", "new\nline", ".hidden")


def _valid_shard(
    root: Path,
    shard_id: str,
    seed: int,
    rate: int = 16000,
    channels: int = 1,
    like: str | None = None,
    number: int | None = None,
) -> Path:
    """A valid shard named ``shard_id``; ``like`` makes it byte-for-byte the content of that kind,
    ``number`` picks distinct content (and segment ids) for extra shards."""
    sentences = load_sentences(LANG)
    speakers = speakers_for(LANG, 6, seed)
    k = number if number is not None else KINDS.index(like or shard_id)
    # Every clip of every shard a distinct (sentence, speaker): equal audio in two shards is a
    # finding of qc_summary's duplicate scan, so only the deliberate copy may have it.
    order = np.random.default_rng(seed).permutation(len(sentences))
    picks = []
    for i in range(CLIPS):
        g = k * CLIPS + i
        picks.append((speakers[(g // len(sentences) + i) % len(speakers)], sentences[int(order[g % len(sentences)])]))
    tts_rate, speech = synth_batch([(s.text, spk.voice) for spk, s in picks])
    from scipy.signal import resample_poly

    g = np.gcd(rate, tts_rate)
    w = ShardWriter(root, LANG, shard_id, extra_manifest={"source": "maya-broken-shards"})
    with w:
        for j, ((spk, sent), audio) in enumerate(zip(picks, speech, strict=True)):
            audio = resample_poly(audio, rate // g, tts_rate // g).astype(np.float32)
            if channels == 2:
                audio = np.stack([audio, 0.5 * audio], axis=1)
            w.add(
                f"{LANG}_k{k:02d}_{j:04d}",
                encode_flac(audio, rate),
                transcript=sent.text,
                duration_s=audio.shape[0] / rate,
                speaker_id=spk.speaker_id,
                domain=sent.domain,
                gender=spk.voice.gender,
                sample_rate=rate,
            )
    return w.dir


def _rewrite_metadata(d: Path, rows: list[dict], schema: pa.Schema = METADATA_SCHEMA) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), d / METADATA)


def _manifest(d: Path) -> dict:
    return json.loads((d / MANIFEST).read_text())


def _write_manifest(d: Path, m: dict) -> None:
    (d / MANIFEST).write_text(json.dumps(m, indent=1, ensure_ascii=False) + "\n")


def make_broken_shard(root: str | Path, kind: str, seed: int = 5) -> Path:
    """Write the shard ``kind`` (see :data:`EXPECTED`) under ``root``; returns its directory."""
    if kind not in EXPECTED:
        raise ValueError(f"unknown broken-shard kind {kind!r}; known: {', '.join(KINDS)}")
    root = Path(root)
    if kind == "resampled":
        return _valid_shard(root, kind, seed, rate=44100, channels=2)
    if kind == "duplicate_shard":
        return _valid_shard(root, kind, seed, like=ODD_NAME)
    d = _valid_shard(root, kind, seed)
    meta = pq.read_table(d / METADATA).to_pylist()
    tar = d / AUDIO_TAR
    if kind == "truncated_tar":
        index = pq.read_table(d / AUDIO_INDEX).to_pylist()
        cut = index[3]["offset"] + index[3]["nbytes"] // 2  # mid-way through the 4th member
        os.truncate(tar, cut)
    elif kind == "garbage_tar":
        tar.write_bytes(np.random.default_rng(seed).integers(0, 256, 65536, dtype=np.uint8).tobytes())
    elif kind == "bad_flac":
        index = pq.read_table(d / AUDIO_INDEX).to_pylist()
        row = index[2]
        half = row["nbytes"] // 2
        with open(tar, "r+b") as f:  # headers intact, second half of the frames scrambled
            f.seek(row["offset"] + half)
            f.write(np.random.default_rng(seed).integers(0, 256, row["nbytes"] - half, dtype=np.uint8).tobytes())
        m = _manifest(d)
        with open(tar, "rb") as f:
            f.seek(row["offset"])
            import hashlib

            m["member_sha256"][row["member"]] = hashlib.sha256(f.read(row["nbytes"])).hexdigest()
        m["files"][AUDIO_TAR]["sha256"] = sha256_file(tar)
        _write_manifest(d, m)
    elif kind == "orphans":
        extra = dict(meta[0], segment_id=f"{LANG}_orphan_9999", transcript=meta[0]["transcript"])
        _rewrite_metadata(d, meta[1:] + [extra])  # hi_0000's audio has no row; hi_9999 has no audio
    elif kind == "missing_column":
        schema = pa.schema([f for f in METADATA_SCHEMA if f.name != "transcript"])
        _rewrite_metadata(d, [{k: v for k, v in r.items() if k != "transcript"} for r in meta], schema)
    elif kind == "bad_text":
        texts = [
            b"",  # empty
            b"   ",  # whitespace only
            b"\xff\xfe broken \xc3",  # not UTF-8
            b"This sentence is English in a Hindi shard.",
            meta[4]["transcript"].encode(),  # stays valid: its language field is changed below
            ("\u0928\u093c" + "ई दिल्ली में बारिश हुई।").encode(),  # decomposed nukta: repaired to NFC
        ]
        rows = []
        for r, t in zip(meta, texts, strict=False):
            rows.append(dict(r, transcript=t))
        rows[4]["language"] = "ta"
        rows.append(dict(rows[5], transcript="दोहराई गई पंक्ति।".encode()))  # duplicate segment id
        schema = pa.schema(
            [pa.field("transcript", pa.binary()) if f.name == "transcript" else f for f in METADATA_SCHEMA]
        )
        _rewrite_metadata(d, rows, schema)
    elif kind == "checksums":
        m = _manifest(d)
        m["num_segments"] += 2
        first = sorted(m["member_sha256"])[1]
        m["member_sha256"][first] = "0" * 64
        _write_manifest(d, m)
    elif kind == "durations":
        for r in meta[:2]:
            r["duration_s"] += 1.5
        _rewrite_metadata(d, meta)
    elif kind == "missing_files":
        for name in (AUDIO_TAR, METADATA, AUDIO_INDEX):
            (d / name).unlink()
    elif kind in ("lengths", "bad_samples", "unsafe_names"):
        _rewrite_members(d, kind, seed)
    elif kind == "text_rate":
        meta[1]["transcript"] = (meta[1]["transcript"] + " ") * (10000 // len(meta[1]["transcript"]) + 1)
        _rewrite_metadata(d, meta)
    elif kind == "nan_durations":
        for r, v in zip(meta, (float("nan"), float("inf"), -1.0), strict=False):
            r["duration_s"] = v
        _rewrite_metadata(d, meta)
    elif kind == "string_durations":
        rows = [dict(r, duration_s=f"{r['duration_s']:.4f}") for r in meta]
        rows[2]["duration_s"] = "n/a"
        schema = pa.schema(
            [pa.field("duration_s", pa.string()) if f.name == "duration_s" else f for f in METADATA_SCHEMA]
        )
        _rewrite_metadata(d, rows, schema)
    elif kind == "manifest_array":
        (d / MANIFEST).write_text(json.dumps([_manifest(d)]) + "\n")
    elif kind == "manifest_types":
        m = _manifest(d)
        m["member_sha256"] = sorted(m["member_sha256"].values())
        m["num_segments"] = str(m["num_segments"])
        m["files"] = [m["files"]]
        _write_manifest(d, m)
    elif kind == "deep_manifest":  # valid JSON that json.loads cannot parse (RecursionError)
        (d / MANIFEST).write_text('{"member_sha256": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    elif kind == "bad_row_group":  # 3 row groups with page checksums; a flipped byte in the second
        pq.write_table(pq.read_table(d / METADATA), d / METADATA, row_group_size=2, write_page_checksum=True)
        col = pq.read_metadata(d / METADATA).row_group(1).column(1)  # transcript, rows 2-3
        start = col.dictionary_page_offset or col.data_page_offset
        with open(d / METADATA, "r+b") as f:
            f.seek(start + col.total_compressed_size - 4)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
    elif kind == "damaged_header":  # one corrupt header mid-archive: that member is lost, not the rest
        index = pq.read_table(d / AUDIO_INDEX).to_pylist()
        with open(tar, "r+b") as f:
            f.seek(index[3]["offset"] - 512 + 20)
            f.write(b"\x7f")
    elif kind == "swapped_pairing":  # the index pairs two segments with each other's members
        index = pq.read_table(d / AUDIO_INDEX)
        rows = index.to_pylist()
        for key in ("member", "offset", "nbytes"):
            rows[1][key], rows[2][key] = rows[2][key], rows[1][key]
        pq.write_table(pa.Table.from_pylist(rows, schema=index.schema), d / AUDIO_INDEX)
        m = _manifest(d)  # an exporter that wrote a wrong index consistently: nothing else disagrees
        m["files"][AUDIO_INDEX]["sha256"] = sha256_file(d / AUDIO_INDEX)
        m["files"][AUDIO_INDEX]["bytes"] = (d / AUDIO_INDEX).stat().st_size
        _write_manifest(d, m)
    elif kind == "transcript_int":
        schema = pa.schema(
            [pa.field("transcript", pa.int64()) if f.name == "transcript" else f for f in METADATA_SCHEMA]
        )
        _rewrite_metadata(d, [dict(r, transcript=i) for i, r in enumerate(meta)], schema)
    return d


def _rewrite_members(d: Path, kind: str, seed: int) -> None:
    """Rewrite the shard through ShardWriter with some members changed (the shard stays
    self-consistent: index, metadata and manifest describe the new tar)."""
    import shutil

    import soundfile as sf

    from maya.audio.reader import AudioRef, TarOffsetReader

    meta = pq.read_table(d / METADATA).to_pylist()
    index = pq.read_table(d / AUDIO_INDEX).to_pylist()
    reader = TarOffsetReader(16000)
    clips = [
        (r, reader.read(AudioRef(str(d / AUDIO_TAR), i["offset"], i["nbytes"], i["member"])))
        for r, i in zip(meta, index, strict=True)
    ]
    reader.close()
    w = ShardWriter(d.parent.parent, LANG, f".{d.name}.rewrite", extra_manifest={"source": "maya-broken-shards"})
    tmp = w.dir
    for j, (row, audio) in enumerate(clips):
        seg, data, dur = row["segment_id"], encode_flac(audio, 16000), len(audio) / 16000
        if kind == "lengths" and j == 0:  # 25 s: longer than data.max_duration_s
            audio = np.tile(audio, int(25 * 16000 / len(audio)) + 1)[: 25 * 16000]
            data, dur = encode_flac(audio, 16000), 25.0
        elif kind == "lengths" and j == 1:  # 50 ms: shorter than data.min_duration_s
            mid = len(audio) // 2
            data, dur = encode_flac(audio[mid : mid + 800], 16000), 0.05
        elif kind == "bad_samples" and j in (0, 1):  # float WAV with NaN/Inf; all zeros
            bad = audio.copy()
            if j == 0:
                bad[100:200] = np.nan
                bad[300] = np.inf
            else:
                bad[:] = 0.0
            buf = io.BytesIO()
            sf.write(buf, bad, 16000, format="WAV", subtype="FLOAT")
            data = buf.getvalue()
        elif kind == "unsafe_names" and j == 0:
            w.member_suffix, seg = "", "../../escaped_clip.flac"
        elif kind == "unsafe_names" and j == 1:
            w.member_suffix, seg = "", "/tmp/absolute_clip.flac"
        elif kind == "unsafe_names" and j == 2:
            seg = "sub/../../up"
        w.add(
            seg,
            data,
            **{k: v for k, v in row.items() if k not in ("segment_id", "language", "duration_s")},
            duration_s=dur,
        )
        w.member_suffix = ".flac"
    w.close()
    shutil.rmtree(d)
    tmp.rename(d)


def make_broken_corpus(root: str | Path, seed: int = 5) -> list[Path]:
    return [make_broken_shard(root, kind, seed) for kind in KINDS]


def make_named_shard(root: str | Path, name: str, number: int, seed: int = 5) -> Path:
    """A valid shard (distinct content per ``number``) under a directory named ``name``: names
    like ``--help`` must be treated as data, names like ``a{b}`` skipped with their reason."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # pyarrow cannot open such a path: write, then rename by bytes
        d = _valid_shard(Path(root), f".tmp-{number}", seed, number=100 + number)
        target = d.parent / name
        os.rename(os.fsencode(d), os.fsencode(target))
        return target
    return _valid_shard(Path(root), name, seed, number=100 + number)
