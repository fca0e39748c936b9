"""TarOffsetReader: exact bytes by offset, decode + resample, safe across fork and pickling."""

import io
import multiprocessing
import pickle

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch

from maya.audio.reader import AudioReadError, AudioRef, TarOffsetReader
from maya.corpus.broken import make_broken_shard
from maya.corpus.demo import synthesise_shard


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    return synthesise_shard(tmp_path_factory.mktemp("c"), "en", 0, clips_per_shard=5, speakers_per_language=2, seed=3)


def refs(shard):
    return [
        AudioRef(str(shard / "audio.tar"), r["offset"], r["nbytes"], r["member"])
        for r in pq.read_table(shard / "audio_index.parquet").to_pylist()
    ]


def test_reads_the_same_audio_as_decoding_in_memory(shard):
    reader = TarOffsetReader()
    raw = (shard / "audio.tar").read_bytes()
    meta = pq.read_table(shard / "metadata.parquet").to_pylist()
    for ref, row in zip(refs(shard), meta, strict=True):
        expected, sr = sf.read(io.BytesIO(raw[ref.offset : ref.offset + ref.nbytes]), dtype="float32")
        got = reader.read(ref)
        assert sr == 16000 and got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
        assert len(got) / 16000 == pytest.approx(row["duration_s"], abs=1e-3)


def test_resamples_and_downmixes(tmp_path):
    d = make_broken_shard(tmp_path, "resampled")
    index = pq.read_table(d / "audio_index.parquet").to_pylist()
    meta = pq.read_table(d / "metadata.parquet").to_pylist()
    reader = TarOffsetReader(16000)
    audio = reader.read(AudioRef(str(d / "audio.tar"), index[0]["offset"], index[0]["nbytes"]))
    assert audio.ndim == 1
    assert len(audio) / 16000 == pytest.approx(meta[0]["duration_s"], abs=2e-3)


def test_bad_clip_error_names_file_and_clip(tmp_path):
    d = make_broken_shard(tmp_path, "bad_flac")
    row = pq.read_table(d / "audio_index.parquet").to_pylist()[2]
    with pytest.raises(AudioReadError, match=r"audio.tar: clip hi_k02_0002.flac does not decode"):
        TarOffsetReader().read(AudioRef(str(d / "audio.tar"), row["offset"], row["nbytes"], row["member"]))
    with pytest.raises(AudioReadError, match="cannot open"):
        TarOffsetReader().read(AudioRef(str(tmp_path / "nope.tar"), 0, 10))


def _child_read(args):
    reader, ref = args
    return reader.read(ref).tobytes()


def test_fork_and_pickle_safe(shard):
    reader = TarOffsetReader()
    rs = refs(shard)
    expected = [reader.read(r).tobytes() for r in rs]  # parent opens its descriptors first
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._fds == {}
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map(_child_read, [(reader, r) for r in rs * 3])
    assert got == expected * 3


class _Clips(torch.utils.data.Dataset):
    def __init__(self, rs):
        self.rs, self.reader = rs, TarOffsetReader()

    def __len__(self):
        return len(self.rs)

    def __getitem__(self, i):
        return torch.from_numpy(self.reader.read(self.rs[i])).shape[0]


def test_dataloader_workers(shard):
    rs = refs(shard)
    ds = _Clips(rs)
    serial = [ds[i] for i in range(len(rs))]
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, shuffle=False)
    assert list(loader) == serial
