"""The clip table: a split's clips as flat arrays in one memory-mapped Arrow IPC file.

Training reads every clip's location, duration, language and token ids many times per epoch, in
8 DDP ranks and their DataLoader workers. Held as Python lists that is ~56 GB per rank at 53M
clips, and every forked worker copies the pages it touches (refcounts). Here each column is one
contiguous buffer of an uncompressed Arrow IPC file (a single record batch), opened with
``pa.memory_map``: the ranks and workers of a node share one copy through the page cache, and
opening it reads only the footer.

Columns (one row per clip, in split order):

==============  =====================  ==================================================
``path_code``   int32                  index into ``paths`` (the shard tars, in metadata)
``member``      large_string           tar member name ("" for a whole file)
``offset``      int64                  byte offset of the member's data in the tar
``nbytes``      int64                  member size (-1: read the whole file)
``language``    int8                   index into ``languages`` (metadata)
``group``       int16                  index into ``groups``: "corpus/language" (metadata)
``duration_s``  float32                decoded duration where QC measured one, else metadata
``num_tokens``  int32                  token count under the Stage-1 tokenizer
``tokens``      large_list<uint16>     token ids (int32 when the vocabulary needs it)
==============  =====================  ==================================================

``write_clip_table`` streams the split in row batches and spools every column to a scratch file,
so writing holds one batch of Python strings at a time, whatever the corpus size.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from maya.audio.reader import AudioRef
from maya.clips import clip_durations
from maya.parquet_batches import open_parquet

SOURCE_COLUMNS = ["audio_path", "member", "offset", "nbytes", "corpus", "language", "duration_s", "decoded_duration_s"]
NUMERIC = {
    "path_code": np.int32,
    "offset": np.int64,
    "nbytes": np.int64,
    "language": np.int8,
    "group": np.int16,
    "duration_s": np.float32,
    "num_tokens": np.int32,
}

# A batch of texts (an Arrow string array) -> (token ids of all texts, one flat array; ids per text).
Encoder = Callable[[pa.Array], tuple[np.ndarray, np.ndarray]]


def flatten(ids: list) -> tuple[np.ndarray, np.ndarray]:
    """Token id lists as (flat ids, lengths)."""
    lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    return np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lens.sum())), lens


class SentencePieceEncoder:
    """Batches of texts to token ids with the SentencePiece model NeMo's tokenizer wraps (the same
    ids as its ``text_to_ids``), encoded in C++ threads."""

    def __init__(self, model_file: str | Path, threads: int = 0):
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.vocab_size = self.sp.get_piece_size()
        self.threads = threads or os.cpu_count() or 1

    def __call__(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        return flatten(self.sp.encode(texts.to_pylist(), num_threads=self.threads))


class HFTokenizerEncoder:
    """Batches of texts to token ids with a Hugging Face tokenizer directory (Stage 2: Gemma's, no
    special tokens: the model adds its own prompt and <eos>)."""

    def __init__(self, tokenizer_dir: str | Path):
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        self.vocab_size = len(self.tok)

    def __call__(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        return flatten(self.tok(texts.to_pylist(), add_special_tokens=False)["input_ids"])


class _Codes:
    """Global integer codes for the few distinct values of a column (paths, languages, groups)."""

    def __init__(self):
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def encode(self, arr: pa.Array) -> np.ndarray:
        d = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
        local = [self._index.setdefault(v, len(self._index)) for v in d.dictionary.cast(pa.string()).to_pylist()]
        self.values = list(self._index)
        return np.asarray(local, dtype=np.int64)[d.indices.to_numpy(zero_copy_only=False)]

    def encode_pairs(self, a: np.ndarray, a_names: list, b: np.ndarray, b_names: list) -> np.ndarray:
        """Codes of "a/b" for per-row codes ``a`` and ``b`` (joined once per distinct pair, not per row)."""
        pairs, inverse = np.unique(a * len(b_names) + b, return_inverse=True)
        local = [
            self._index.setdefault(f"{a_names[x // len(b_names)]}/{b_names[x % len(b_names)]}", len(self._index))
            for x in pairs.tolist()
        ]
        self.values = list(self._index)
        return np.asarray(local, dtype=np.int64)[inverse]


class _Spool:
    """Append-only scratch files, one per column, turned into zero-copy Arrow buffers at the end."""

    def __init__(self, root: Path):
        self.root, self.files = root, {}

    def add(self, name: str, values: np.ndarray, dtype=None) -> None:
        if name not in self.files:
            self.files[name] = open(self.root / name, "wb")  # noqa: SIM115 (one per column, closed in close())
        np.ascontiguousarray(values, dtype=dtype or NUMERIC[name]).tofile(self.files[name])

    def array(self, name: str, dtype) -> np.ndarray:
        if name in self.files:
            self.files.pop(name).close()
        path = self.root / name
        if not path.exists() or path.stat().st_size == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r")

    def offsets(self, lengths_name: str) -> np.ndarray:
        lens = self.array(lengths_name, np.int64)
        out = np.memmap(self.root / f"{lengths_name}.offsets", dtype=np.int64, mode="w+", shape=(len(lens) + 1,))
        out[0] = 0
        np.cumsum(lens, out=out[1:])
        return out


def _buffer(a: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(a) if len(a) else pa.py_buffer(b"")


def write_clip_table(
    split_parquet: str | Path,
    out_path: str | Path,
    encode: Encoder,
    vocab_size: int,
    text_column: str = "text_norm",
    batch_rows: int = 1 << 17,
) -> dict:
    """Write the clip table of ``split_parquet`` (tokenised with ``encode``) to ``out_path``; returns
    its metadata (paths, languages, groups, rows)."""
    src = open_parquet(split_parquet)
    out_path = Path(out_path)
    token_type = np.uint16 if vocab_size <= 1 << 16 else np.int32
    paths, langs, corpora, groups = _Codes(), _Codes(), _Codes(), _Codes()
    scratch = Path(tempfile.mkdtemp(prefix=".clip_table.", dir=out_path.parent))
    try:
        spool = _Spool(scratch)
        bar = tqdm(
            total=src.metadata.num_rows, desc=f"clip table {out_path.name}", unit="clip", disable=None, leave=False
        )
        for b in src.iter_batches(batch_size=batch_rows, columns=SOURCE_COLUMNS + [text_column]):
            n = b.num_rows
            bar.update(n)
            spool.add("path_code", paths.encode(b.column("audio_path")))
            member = pc.fill_null(_plain(b.column("member")).cast(pa.large_string()), "")
            _spool_strings(spool, "member", member)
            spool.add("offset", pc.fill_null(b.column("offset"), 0).to_numpy(zero_copy_only=False))
            spool.add(
                "nbytes",
                pc.if_else(pc.is_null(b.column("member")), -1, pc.fill_null(b.column("nbytes"), -1)).to_numpy(
                    zero_copy_only=False
                ),
            )
            lang = langs.encode(b.column("language"))
            spool.add("language", lang)
            spool.add(
                "group", groups.encode_pairs(corpora.encode(b.column("corpus")), corpora.values, lang, langs.values)
            )
            spool.add(
                "duration_s",
                clip_durations(
                    b.column("decoded_duration_s").to_numpy(zero_copy_only=False),
                    b.column("duration_s").to_numpy(zero_copy_only=False),
                ),
            )
            values, lens = encode(_plain(b.column(text_column)))
            if len(lens) != n or lens.sum() != len(values):
                raise ValueError(f"{split_parquet}: the encoder returned {len(lens)} token lists for {n} texts")
            spool.add("num_tokens", lens)
            spool.add("tokens.lengths", lens, np.int64)
            spool.add("tokens.values", values, token_type)
        bar.close()
        rows = src.metadata.num_rows
        columns = {
            name: pa.Array.from_buffers(pa.from_numpy_dtype(dt), rows, [None, _buffer(spool.array(name, dt))])
            for name, dt in NUMERIC.items()
        }
        columns["member"] = pa.LargeStringArray.from_buffers(
            rows, _buffer(spool.offsets("member.lengths")), _buffer(spool.array("member.data", np.uint8))
        )
        values = spool.array("tokens.values", token_type)
        columns["tokens"] = pa.LargeListArray.from_arrays(
            pa.Array.from_buffers(pa.int64(), rows + 1, [None, _buffer(spool.offsets("tokens.lengths"))]),
            pa.Array.from_buffers(pa.from_numpy_dtype(token_type), len(values), [None, _buffer(values)]),
        )
        meta = {
            "source": str(split_parquet),
            "rows": rows,
            "vocab_size": vocab_size,
            "paths": paths.values,
            "languages": langs.values,
            "groups": groups.values,
        }
        names = ["path_code", "member", "offset", "nbytes", "language", "group", "duration_s", "num_tokens", "tokens"]
        batch = pa.record_batch([columns[c] for c in names], names=names).replace_schema_metadata(
            {"maya": json.dumps(meta, ensure_ascii=False)}
        )
        tmp = scratch / "table.arrow"
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as w:
            w.write_batch(batch)
        os.replace(tmp, out_path)
        return meta
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _plain(arr: pa.Array) -> pa.Array:
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _spool_strings(spool: _Spool, name: str, arr: pa.Array) -> None:
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    spool.add(f"{name}.lengths", np.diff(offsets), np.int64)
    spool.add(f"{name}.data", data, np.uint8)


class ClipTable:
    """A clip table opened read-only and memory-mapped; every column a zero-copy numpy view."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        reader = pa.ipc.open_file(pa.memory_map(self.path, "r"))
        self.meta = json.loads(reader.schema.metadata[b"maya"])
        self.paths: list[str] = self.meta["paths"]
        self.languages: list[str] = self.meta["languages"]
        self.groups: list[str] = self.meta["groups"]
        batch = reader.get_batch(0)
        col = {n: batch.column(n) for n in batch.schema.names}
        for name in NUMERIC:
            setattr(self, name, col[name].to_numpy(zero_copy_only=True))
        self._member = col["member"]
        self.token_offsets = np.frombuffer(col["tokens"].buffers()[1], dtype=np.int64)[: batch.num_rows + 1]
        self.token_values = col["tokens"].values.to_numpy(zero_copy_only=True)

    # DataLoader workers started with spawn (or pickled anywhere) reopen the map, not copy it.
    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.__init__(state["path"])

    def __len__(self) -> int:
        return len(self.duration_s)

    def ref(self, i: int) -> AudioRef:
        member, nbytes = self._member[i].as_py(), int(self.nbytes[i])
        return AudioRef(self.paths[self.path_code[i]], int(self.offset[i]), None if nbytes < 0 else nbytes, member)

    def tokens(self, i: int) -> np.ndarray:
        return self.token_values[self.token_offsets[i] : self.token_offsets[i + 1]]

    def language_lookup(self, languages: Sequence[str]) -> np.ndarray:
        """Index in ``languages`` (the model's order) of each table language code (-1: not there)."""
        return np.array([languages.index(x) if x in languages else -1 for x in self.languages], dtype=np.int64)

    def language_ids(self, languages: Sequence[str]) -> np.ndarray:
        """Per clip, the index of its language in ``languages``."""
        return self.language_lookup(languages)[self.language] if len(self.languages) else np.zeros(len(self), np.int64)
