"""Per corpus and language manifests of kept clips: Parquet (the working format) and NeMo JSONL.

Built by streaming one shard index at a time (a ParquetWriter and a JSONL file open side by side),
so a language of 840 shards x 15,000 clips never sits in memory as Python objects.
For tarred audio the JSONL follows NeMo's tarred-manifest convention: ``audio_filepath`` is the
member name inside the shard's tar; ``tar_path``/``tar_offset``/``tar_nbytes`` locate its bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import soundfile as sf

from maya.audio.reader import AudioRef, TarOffsetReader
from maya.shard_schema import INDEX_SCHEMA

MANIFEST_COLUMNS = [f.name for f in INDEX_SCHEMA if not f.name.startswith("qc_")]
MANIFEST_SCHEMA = pa.schema([INDEX_SCHEMA.field(n) for n in MANIFEST_COLUMNS])


def kept_rows(index: pa.Table) -> pa.Table:
    return index.filter(pc.is_null(index.column("qc_reason"))).select(MANIFEST_COLUMNS)


def nemo_entry(
    row: dict,
    taskname: str = "asr",
    *,
    text_field: str = "transcript",
    audio_filepath: str | None = None,
    tar_fields: bool = True,
) -> dict:
    """One NeMo manifest line for a manifest row. ``audio_filepath`` overrides where the audio
    is said to be; ``tar_fields=False`` leaves out tar_path/tar_offset/tar_nbytes."""
    tarred = row["member"] is not None
    entry = {
        "audio_filepath": audio_filepath or (row["member"] if tarred else row["audio_path"]),
        "duration": round(row["decoded_duration_s"] or row["duration_s"], 4),
        "text": row[text_field],
        "lang": row["language"],
        "taskname": taskname,
        "source_lang": row["language"],
        "target_lang": row["language"],
        "pnc": "yes",
        "segment_id": row["segment_id"],
        "corpus": row["corpus"],
        "shard_id": row["shard_id"],
        "speaker": row["speaker_id"],
    }
    if tarred and tar_fields:
        entry.update(tar_path=row["audio_path"], tar_offset=row["offset"], tar_nbytes=row["nbytes"])
    return entry


def nemo_lines(
    t: pa.Table,
    taskname: str = "asr",
    *,
    text_field: str = "transcript",
    audio_filepath: pa.Array | None = None,
    tar_fields: bool = True,
    shard_id: int | None = None,
) -> pa.Array:
    """``nemo_entry`` of every row of ``t`` as JSON lines, column-wise (maya.jsonl)."""
    from maya.jsonl import json_lines

    member = t.column("member")
    tarred = pc.is_valid(member)
    lang = t.column("language")
    n = t.num_rows
    fields = {
        "audio_filepath": audio_filepath if audio_filepath is not None else pc.coalesce(member, t.column("audio_path")),
        "duration": nemo_duration(t),
        "text": t.column(text_field),
        "lang": lang,
        "taskname": pa.repeat(taskname, n),
        "source_lang": lang,
        "target_lang": lang,
        "pnc": pa.repeat("yes", n),
        "segment_id": t.column("segment_id"),
        "corpus": t.column("corpus"),
        "shard_id": pa.repeat(shard_id, n) if shard_id is not None else t.column("shard_id"),
        "speaker": t.column("speaker_id"),
    }
    if not tar_fields:
        return json_lines(fields)
    tar = {"tar_path": t.column("audio_path"), "tar_offset": t.column("offset"), "tar_nbytes": t.column("nbytes")}
    return json_lines(fields, tar, tarred)


def build_manifest(
    index_paths: Iterable[str | Path],
    out_parquet: str | Path,
    out_jsonl: str | Path,
    duplicates: pa.Table | None = None,
) -> dict:
    """Stream kept clips from shard indexes into a Parquet and a NeMo JSONL manifest, leaving out
    the clips ``duplicates`` (maya.dedup) lists as copies of an earlier shard's."""
    from maya.dedup import drop_duplicates
    from maya.jsonl import write_lines

    out_parquet, out_jsonl = Path(out_parquet), Path(out_jsonl)
    out_parquet.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    seconds = 0.0
    with pq.ParquetWriter(out_parquet, MANIFEST_SCHEMA) as writer, open(out_jsonl, "wb") as jf:
        for path in index_paths:
            kept = kept_rows(pq.read_table(path))
            if duplicates is not None:
                kept = drop_duplicates(kept, duplicates)
            if kept.num_rows == 0:
                continue
            writer.write_table(kept)
            write_lines(nemo_lines(kept), jf)
            seconds += pc.sum(nemo_duration(kept)).as_py() or 0.0
            n += kept.num_rows
    return {"clips": n, "hours": round(seconds / 3600, 4)}


def nemo_duration(t: pa.Table) -> pa.Array:
    """The manifest's ``duration``: decoded where known (a 0.0 means unknown, as in nemo_entry),
    else the metadata's, rounded as written."""
    decoded = t.column("decoded_duration_s")
    known = pc.and_kleene(pc.is_valid(decoded), pc.not_equal(decoded, 0.0))
    return pc.round(pc.if_else(known, decoded, t.column("duration_s")), 4)


def materialise_flac(rows: Iterable[dict], out_dir: str | Path, sample_rate: int = 16000) -> list[dict]:
    """Write clips as 16 kHz mono FLAC files (for stock NeMo tools that read files); returns
    NeMo entries pointing at them. For small sets only (validation, test).

    Files are ``out_dir/{corpus}/{shard_id}/{segment_id}.flac``: segment ids are unique within a
    shard only. A name that would leave ``out_dir`` (absolute, ``..``) raises ValueError."""
    from maya.names import safe_join

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reader = TarOffsetReader(sample_rate)
    entries = []
    for row in rows:
        dest = Path(safe_join(out_dir, row["corpus"], row["shard_id"], f"{row['segment_id']}.flac"))
        ref = AudioRef(row["audio_path"], row["offset"] or 0, row["nbytes"], row["member"] or "")
        audio = reader.read(ref)
        buf = io.BytesIO()
        sf.write(buf, audio, sample_rate, format="FLAC", subtype="PCM_16")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(buf.getvalue())
        entry = nemo_entry(row, audio_filepath=str(dest), tar_fields=False)
        entry["duration"] = round(len(audio) / sample_rate, 4)
        entries.append(entry)
    reader.close()
    return entries
