"""Small copies of the public benchmarks in the layouts they ship, written from their format
descriptions (FLEURS, Common Voice, Kathbath, Hugging Face Parquet), with eSpeak NG speech of the
project's demo sentences and a few deliberately bad rows each."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from maya.corpus.demo import load_sentences, speakers_for
from maya.espeak import synth_batch

CLIPS = 4  # per language and benchmark


def speech(lang: str, n: int = CLIPS, offset: int = 0) -> list[tuple[str, np.ndarray]]:
    """(sentence, 16 kHz float32 audio) pairs, eSpeak NG reading the demo sentences."""
    from scipy.signal import resample_poly

    sentences = [s.text for s in load_sentences(lang)][offset : offset + n]
    voice = speakers_for(lang, 1, seed=3)[0].voice
    rate, audio = synth_batch([(s, voice) for s in sentences])
    g = np.gcd(16000, rate)
    return [
        (s, resample_poly(a, 16000 // g, rate // g).astype(np.float32)) for s, a in zip(sentences, audio, strict=True)
    ]


def _wav(audio: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def fleurs(root: Path) -> dict:
    """``hi_in``: WAVs inside ``audio/test.tar.gz``, a row with 6 fields, a row naming a missing WAV;
    ``ta_in``: the extracted ``audio/test/`` folder."""
    bad = {}
    for lang, packed in (("hi", True), ("ta", False)):
        d = root / f"{lang}_in"
        (d / "audio" / "test").mkdir(parents=True)
        rows, files = [], {}
        for i, (text, audio) in enumerate(speech(lang)):
            name = f"{1000 + i}.wav"
            files[name] = _wav(audio)
            rows.append([str(i), name, text, text.lower(), "x", str(len(audio)), "FEMALE"])
        rows.append(["98", "9998.wav", "गायब फ़ाइल" if lang == "hi" else "இல்லாத கோப்பு", "", "", "16000", "MALE"])
        rows.append(["99", "9999.wav", "six fields only", "", "", "16000"])
        (d / "test.tsv").write_text("\n".join("\t".join(r) for r in rows) + "\n", encoding="utf-8")
        if packed:
            with tarfile.open(d / "audio" / "test.tar.gz", "w:gz") as tf:
                for name, data in files.items():
                    info = tarfile.TarInfo(f"test/{name}")
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
            (d / "audio" / "test").rmdir()
        else:
            for name, data in files.items():
                (d / "audio" / "test" / name).write_bytes(data)
        bad[lang] = {"missing_audio": 1, "unreadable_row": 1}
    return bad


def common_voice(root: Path) -> dict:
    """``hi``: a header with the columns reordered and an extra one, 48 kHz MP3s, an empty sentence."""
    from scipy.signal import resample_poly

    d = root / "hi"
    (d / "clips").mkdir(parents=True)
    lines = ["sentence\tup_votes\tpath\tclient_id\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment\textra"]
    for i, (text, audio) in enumerate(speech("hi", offset=10)):
        name = f"common_voice_hi_{i}.mp3"
        buf = io.BytesIO()
        sf.write(buf, resample_poly(audio, 3, 1).astype(np.float32), 48000, format="MP3")
        (d / "clips" / name).write_bytes(buf.getvalue())
        sentence = "" if i == CLIPS - 1 else text
        lines.append(f"{sentence}\t2\t{name}\tspk{i % 2}\t0\t\t\t\t\thi\t\tz")
    (d / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"hi": {"empty_transcript": 1}}


def kathbath(root: Path) -> dict:
    """``hindi/test_known``: M4A (AAC) clips with ``transcription_n2w.txt``; one M4A that is not audio."""
    import av

    d = root / "hindi" / "test_known"
    d.mkdir(parents=True)
    lines = []
    for i, (text, audio) in enumerate(speech("hi", offset=20)):
        name = f"{844424930000 + i}-{700 + i % 2}-{'f' if i % 2 else 'm'}.m4a"
        if i == CLIPS - 1:
            (d / name).write_bytes(b"not an m4a at all" * 50)
        else:
            out = io.BytesIO()
            with av.open(out, "w", format="mp4") as c:
                s = c.add_stream("aac", rate=16000)
                s.layout = "mono"
                frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="flt", layout="mono")
                frame.sample_rate = 16000
                for p in s.encode(frame):
                    c.mux(p)
                for p in s.encode(None):
                    c.mux(p)
            (d / name).write_bytes(out.getvalue())
        lines.append(f"{name}\t{text}")
    (d / "transcription_n2w.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"hi": {"decode_error": 1}}


def hf_parquet(root: Path) -> dict:
    """``tamil/test-00000-of-00001.parquet`` with embedded FLAC (the IndicVoices layout), and a second
    file without the text column."""
    d = root / "tamil"
    d.mkdir(parents=True)
    rows = []
    for i, (text, audio) in enumerate(speech("ta", offset=10)):
        buf = io.BytesIO()
        sf.write(buf, audio, 16000, format="FLAC")
        rows.append(
            {
                "audio": {"bytes": buf.getvalue(), "path": f"ta_{i}.flac"},
                "text": text,
                "lang": "tamil",
                "duration": len(audio) / 16000,
                "speaker_id": f"s{i}",
            }
        )
    schema = pa.schema(
        [
            ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("text", pa.string()),
            ("lang", pa.string()),
            ("duration", pa.float64()),
            ("speaker_id", pa.string()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), d / "test-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema).drop_columns(["text"]), d / "test-00001-of-00001.parquet")
    return {"ta": {"missing_column": CLIPS}}
