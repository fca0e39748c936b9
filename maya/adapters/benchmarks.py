"""Public benchmark test sets in the layouts they ship: FLEURS, Common Voice, Kathbath, and Hugging
Face datasets' Parquet (FLEURS, IndicVoices, Kathbath from the Hub).

Each is a corpus format like the others (discover / scan / a row per clip), meant for corpora with
``use: eval``: a benchmark never enters training, splits, balancing or the tokenizer sample, and is
scored as its own test set. Shards are the test splits found under ``root`` (FLEURS and Common Voice
``test``; Kathbath ``test_known`` and ``test_unknown``; every Parquet file of an ``hf_parquet``
folder). Language names and locales map to our codes through ``maya.benchmarks.language_code``.

Audio the offset reader cannot address directly (members of a FLEURS ``.tar.gz``, Kathbath's M4A,
bytes embedded in Parquet) is written once, as found (M4A decoded to 16 kHz FLAC with PyAV), under
``results/extracted/{corpus}/{lang}/{split}/``; names are checked so nothing lands outside it.
A row naming a missing or undecodable file, an empty transcript, a row with the wrong number of
fields or a file without a needed column is quarantined with a reason naming the file and row,
never a failed job.
"""

from __future__ import annotations

import csv
import os
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow.parquet as pq

from maya.adapters import base
from maya.adapters.base import Problem, RawClip, ShardScan
from maya.benchmarks import FLEURS_CONFIG, KATHBATH_NAME, language_code
from maya.errors import MayaError
from maya.names import printable, safe_join, unsafe_name

EXTRACTED = "results/extracted"
FLEURS_COLUMNS = ("id", "file_name", "raw_transcription", "transcription", "words", "num_samples", "gender")


def extracted_dir(corpus: str, lang: str, shard: str) -> Path:
    return Path(safe_join(EXTRACTED, corpus, lang, shard))


def _stamp(paths: Sequence[Path]) -> str:
    return base.stat_stamp([str(p) for p in paths])


class _Benchmark:
    """Shared plumbing: one file listing the split (the declared input), a stat stamp of it, and
    the number of rows it claims when the scan fails."""

    def listing(self, root: str, lang: str, shard: str) -> Path:
        raise NotImplementedError

    def shard_inputs(self, root: str, lang: str, shard_id: str) -> list[str]:
        p = self.listing(root, lang, shard_id)
        return [str(p)] if p.is_file() else []

    def shard_stamp(self, root: str, lang: str, shard_id: str) -> str:
        return _stamp([self.listing(root, lang, shard_id)])

    def expected_clips(self, root: str, lang: str, shard_id: str) -> int:
        try:
            with open(self.listing(root, lang, shard_id), "rb") as f:
                return sum(1 for line in f if line.strip())
        except OSError:
            return 0


def _text_clip(seg, text, audio: Path | None, lang, where: str, speaker=None, duration=None, gender=None) -> RawClip:
    clip = RawClip(
        seg,
        text.encode("utf-8") if isinstance(text, str) else text,
        duration,
        None if audio is None else str(audio),
        language=lang,
        speaker_id=speaker,
        gender=gender,
    )
    if audio is None or not audio.is_file():
        clip.reason, clip.detail = "missing_audio", f"{where}: audio {audio} does not exist"
    return clip


class Fleurs(_Benchmark):
    """``{root}/{cfg}/{split}.tsv`` (no header: id, file_name, raw_transcription, transcription, words,
    num_samples, gender) with WAVs in ``{cfg}/audio/{split}/`` or ``{cfg}/audio/{split}.tar.gz``
    (extracted once). The reference is ``raw_transcription`` (``columns: {transcript: transcription}``
    for Google's normalised one)."""

    format = "fleurs"

    def discover(self, root: str, languages: Sequence[str]) -> list[tuple[str, str]]:
        if not Path(root).is_dir():
            raise MayaError(f"FLEURS corpus at {root}: not a directory")
        return sorted((lang, "test") for lang in languages if (Path(root) / FLEURS_CONFIG[lang] / "test.tsv").is_file())

    def listing(self, root, lang, shard):
        return Path(root) / FLEURS_CONFIG[lang] / f"{shard}.tsv"

    def scan(self, corpus, root, lang, shard_id, columns: Mapping[str, str] | None = None) -> ShardScan:
        scan = ShardScan(corpus, lang, shard_id)
        tsv = self.listing(root, lang, shard_id)
        if not tsv.is_file():
            scan.problems.append(Problem(base.MISSING_FILE, f"{tsv} is missing", fatal=True))
            return scan
        audio_dir = tsv.parent / "audio" / shard_id
        if not audio_dir.is_dir() and (tsv.parent / "audio" / f"{shard_id}.tar.gz").is_file():
            audio_dir = _extract_tar_gz(
                tsv.parent / "audio" / f"{shard_id}.tar.gz", extracted_dir(corpus, lang, shard_id), scan
            )
        text_col = FLEURS_COLUMNS.index((columns or {}).get("transcript", "raw_transcription"))
        with open(tsv, newline="", encoding="utf-8", errors="replace") as f:
            for i, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
                where = f"{tsv} line {i}"
                if len(row) != len(FLEURS_COLUMNS):
                    scan.clips.append(
                        RawClip(
                            f"<line {i}>",
                            None,
                            None,
                            None,
                            reason="unreadable_row",
                            detail=f"{where}: {len(row)} fields, expected {len(FLEURS_COLUMNS)}",
                        )
                    )
                    continue
                # FLEURS ids repeat (one sentence, several speakers) and number each config alike.
                seg, name = f"{lang}_{row[0]}_{row[1].removesuffix('.wav')}", row[1]
                why = unsafe_name(name)
                audio = None if why else audio_dir / name
                try:
                    duration = int(row[5]) / 16000
                except ValueError:
                    duration = None
                clip = _text_clip(seg, row[text_col], audio, lang, where, duration=duration, gender=row[6] or None)
                if why:
                    clip.reason, clip.detail = "unsafe_name", f"{where}: file name {printable(name)!r} {why}"
                scan.clips.append(clip)
        return scan


def _extract_tar_gz(archive: Path, out: Path, scan: ShardScan) -> Path:
    """The WAV members of a FLEURS audio archive, once, under ``out`` (regular files with safe names
    only; a ``.done`` marker makes it once)."""
    done = out / ".done"
    if done.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tf:
            for m in tf:
                name = os.path.basename(m.name)
                if not m.isfile() or unsafe_name(name) or not name:
                    continue
                with tf.extractfile(m) as src, open(out / name, "wb") as dst:
                    dst.write(src.read())
    except (OSError, tarfile.TarError, EOFError) as e:
        scan.problems.append(Problem(base.UNREADABLE_TAR, f"{archive}: {e}; members read before it are kept"))
        return out
    done.touch()
    return out


class CommonVoice(_Benchmark):
    """``{root}/{locale}/{split}.tsv`` (a header row: client_id, path, sentence, ...; more columns in
    newer releases, in any order) with MP3s in ``{locale}/clips/`` (48 kHz; libsndfile decodes MP3)."""

    format = "common_voice"
    LOCALES = {"pa": "pa-IN", "gu": "gu-IN"}

    def discover(self, root, languages):
        if not Path(root).is_dir():
            raise MayaError(f"Common Voice corpus at {root}: not a directory")
        return sorted((lang, "test") for lang in languages if self.listing(root, lang, "test").is_file())

    def listing(self, root, lang, shard):
        loc = self.LOCALES.get(lang, lang)
        return Path(root) / loc / f"{shard}.tsv"

    def scan(self, corpus, root, lang, shard_id, columns=None) -> ShardScan:
        scan = ShardScan(corpus, lang, shard_id)
        tsv = self.listing(root, lang, shard_id)
        if not tsv.is_file():
            scan.problems.append(Problem(base.MISSING_FILE, f"{tsv} is missing", fatal=True))
            return scan
        cols = {"audio": "path", "transcript": "sentence", "speaker_id": "client_id", **(columns or {})}
        with open(tsv, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = [c for c in (cols["audio"], cols["transcript"]) if c not in (reader.fieldnames or [])]
            if missing:
                scan.problems.append(
                    Problem(base.MISSING_COLUMN, f"{tsv} lacks column(s) {', '.join(missing)}", fatal=True)
                )
                return scan
            for i, row in enumerate(reader, 2):
                where = f"{tsv} line {i}"
                name = row.get(cols["audio"]) or ""
                why = unsafe_name(name)
                clip = _text_clip(
                    name.rsplit(".", 1)[0] or f"<line {i}>",
                    row.get(cols["transcript"]),
                    None if why else tsv.parent / "clips" / name,
                    lang,
                    where,
                    speaker=row.get(cols["speaker_id"]) or None,
                    gender=row.get("gender") or None,
                )
                if why:
                    clip.reason, clip.detail = "unsafe_name", f"{where}: path {printable(name)!r} {why}"
                scan.clips.append(clip)
        return scan


class Kathbath(_Benchmark):
    """``{root}/{language}/{split}/{uid}-{speaker}-{f|m}.m4a`` with ``transcription_n2w.txt``
    (``file<TAB>text``, no header); splits ``test_known`` and ``test_unknown``. M4A (AAC) is decoded
    with PyAV to 16 kHz FLAC under results/extracted."""

    format = "kathbath"
    SPLITS = ("test_known", "test_unknown")

    def discover(self, root, languages):
        if not Path(root).is_dir():
            raise MayaError(f"Kathbath corpus at {root}: not a directory")
        return sorted((lang, s) for lang in languages for s in self.SPLITS if self.listing(root, lang, s).is_file())

    def listing(self, root, lang, shard):
        return Path(root) / KATHBATH_NAME[lang] / shard / "transcription_n2w.txt"

    def scan(self, corpus, root, lang, shard_id, columns=None) -> ShardScan:
        scan = ShardScan(corpus, lang, shard_id)
        txt = self.listing(root, lang, shard_id)
        if not txt.is_file():
            scan.problems.append(Problem(base.MISSING_FILE, f"{txt} is missing", fatal=True))
            return scan
        out = extracted_dir(corpus, lang, shard_id)
        out.mkdir(parents=True, exist_ok=True)
        for i, line in enumerate(txt.read_text("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{txt} line {i}"
            name, _, text = line.partition("\t")
            name = name.strip()
            why = unsafe_name(name) or (None if _ else "has no tab-separated transcript")
            stem = name.rsplit(".", 1)[0]
            parts = stem.split("-")
            clip = _text_clip(
                f"{lang}_{stem}" if stem else f"<line {i}>",  # uids repeat across languages
                text if _ else None,
                None,
                lang,
                where,
                speaker=parts[1] if len(parts) >= 3 else None,
                gender={"f": "female", "m": "male"}.get(parts[-1]) if len(parts) >= 3 else None,
            )
            if why:
                clip.reason, clip.detail = "unreadable_row", f"{where}: {printable(name)!r} {why}"
            else:
                src = txt.parent / (name if "." in name else f"{name}.m4a")
                clip.reason, clip.detail = None, None
                clip.audio_path, clip.reason, clip.detail = _decoded_flac(src, out / f"{stem}.flac", where)
            scan.clips.append(clip)
        return scan


def _decoded_flac(src: Path, dst: Path, where: str) -> tuple[str | None, str | None, str | None]:
    """``src`` (any format FFmpeg reads) as 16 kHz mono FLAC at ``dst``, once; (path, reason, detail)."""
    if dst.is_file():
        return str(dst), None, None
    if not src.is_file():
        return None, "missing_audio", f"{where}: audio {src} does not exist"
    try:
        import av
        import numpy as np

        from maya.shard_writer import encode_flac

        with av.open(str(src)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
            chunks = [
                r.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for r in resampler.resample(frame)
            ]
            chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        if not len(samples):
            return None, "decode_error", f"{where}: {src} decodes to no samples"
        tmp = dst.with_suffix(".tmp")
        tmp.write_bytes(encode_flac(samples, 16000))
        os.replace(tmp, dst)
        return str(dst), None, None
    except Exception as e:  # PyAV raises its own error classes per codec problem
        return None, "decode_error", f"{where}: {src}: {type(e).__name__}: {e}"


class HFParquet(_Benchmark):
    """Hugging Face datasets' Parquet: ``{root}/{language}/*.parquet`` or ``{root}/*.parquet`` with a
    language column; an audio struct column ``{bytes, path}``, a text column, and optionally language,
    duration and speaker columns, named through the corpus' ``columns`` mapping (canonical name ->
    column: audio -> audio, transcript -> text, language -> language, duration_s -> duration,
    speaker_id -> speaker_id). Each Parquet file is a shard; embedded audio is written once, as is,
    under results/extracted."""

    format = "hf_parquet"
    DEFAULTS = {
        "audio": "audio",
        "transcript": "text",
        "language": "language",
        "duration_s": "duration",
        "speaker_id": "speaker_id",
    }

    def discover(self, root, languages):
        r = Path(root)
        if not r.is_dir():
            raise MayaError(f"Parquet corpus at {root}: not a directory")
        found = []
        for d in sorted(p for p in r.iterdir() if p.is_dir()):
            lang = language_code(d.name)
            if lang in languages:
                found += [(lang, f.stem) for f in sorted(d.glob("*.parquet"))]
        for f in sorted(r.glob("*.parquet")):  # one folder of files with a language column
            for lang in self._languages_in(f):
                if lang in languages:
                    found.append((lang, f.stem))
        return sorted(set(found))

    @staticmethod
    def _languages_in(path: Path) -> list[str]:
        try:
            t = pq.read_table(path, columns=["language"]) if "language" in pq.read_schema(path).names else None
        except Exception:
            return []
        return sorted({c for c in (language_code(x) for x in t.column(0).unique().to_pylist()) if c}) if t else []

    def listing(self, root, lang, shard):
        r = Path(root)
        for d in (p for p in r.iterdir() if p.is_dir() and language_code(p.name) == lang) if r.is_dir() else ():
            if (d / f"{shard}.parquet").is_file():
                return d / f"{shard}.parquet"
        return r / f"{shard}.parquet"

    def expected_clips(self, root, lang, shard_id):
        try:
            return pq.read_metadata(self.listing(root, lang, shard_id)).num_rows
        except Exception:
            return 0

    def scan(self, corpus, root, lang, shard_id, columns=None) -> ShardScan:
        scan = ShardScan(corpus, lang, shard_id)
        path = self.listing(root, lang, shard_id)
        cols = {**self.DEFAULTS, **(columns or {})}
        try:
            names = pq.read_schema(path).names
        except Exception as e:
            scan.problems.append(Problem(base.UNREADABLE_METADATA, f"{path}: {type(e).__name__}: {e}", fatal=True))
            return scan
        missing = [cols[k] for k in ("audio", "transcript") if cols[k] not in names]
        if missing:
            scan.problems.append(
                Problem(
                    base.MISSING_COLUMN,
                    f"{path} lacks column(s) {', '.join(missing)} (has {', '.join(names)}; "
                    "map names with `columns:` in the corpus config)",
                    fatal=True,
                )
            )
            scan.clips.extend(
                RawClip(f"<row {i}>", None, None, None) for i in range(self.expected_clips(root, lang, shard_id))
            )
            return scan
        out = extracted_dir(corpus, lang, shard_id)
        out.mkdir(parents=True, exist_ok=True)
        wanted = [cols[k] for k in ("audio", "transcript", "language", "duration_s", "speaker_id") if cols[k] in names]
        row_no = 0
        for batch in pq.ParquetFile(path).iter_batches(columns=wanted, batch_size=256):
            data = batch.to_pydict()
            for j in range(batch.num_rows):
                row_no += 1
                where = f"{path} row {row_no}"
                row_lang = language_code(data[cols["language"]][j]) if cols["language"] in data else lang
                if row_lang != lang:
                    continue  # another language's row of a mixed file: that language's shard has it
                audio = data[cols["audio"]][j]
                blob = audio.get("bytes") if isinstance(audio, dict) else None
                inner = (audio.get("path") if isinstance(audio, dict) else None) or f"{row_no}.flac"
                stem = os.path.basename(str(inner)).rsplit(".", 1)[0] or f"row{row_no}"
                ext = os.path.splitext(str(inner))[1] or ".flac"
                clip = _text_clip(
                    f"{lang}_{stem}",  # file names repeat across languages
                    data[cols["transcript"]][j],
                    None,
                    lang,
                    where,
                    speaker=data.get(cols["speaker_id"], [None] * batch.num_rows)[j],
                    duration=base.as_duration(data.get(cols["duration_s"], [None] * batch.num_rows)[j]),
                )
                if not blob or unsafe_name(stem + ext):
                    clip.reason, clip.detail = (
                        "missing_audio",
                        f"{where}: no embedded audio bytes in column {cols['audio']}",
                    )
                else:
                    target = out / f"{stem}{ext}"
                    if not target.is_file():
                        target.write_bytes(blob)
                    clip.audio_path, clip.reason, clip.detail = str(target), None, None
                scan.clips.append(clip)
        return scan
