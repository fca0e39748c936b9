"""The clip table: every column round-trips, strings and tokens live in flat buffers, the file is
memory-mapped (zero-copy views, pickles as its path), and the ids are the Stage-1 tokenizer's."""

import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from maya.clip_table import ClipTable, SentencePieceEncoder, flatten, write_clip_table


def _split(path, n=1000):
    rows = {
        "audio_path": [f"/data/lang=hi/s{i % 7}/audio.tar" for i in range(n)],
        "member": [None if i % 50 == 0 else f"hi_{i:05d}.flac" for i in range(n)],
        "offset": [None if i % 50 == 0 else 512 * i for i in range(n)],
        "nbytes": [None if i % 50 == 0 else 100 + i for i in range(n)],
        "corpus": ["maya" if i % 5 else "extra" for i in range(n)],
        "language": ["hi" if i % 3 else "ta" for i in range(n)],
        "duration_s": [1.0 + i % 5 for i in range(n)],
        "decoded_duration_s": [None if i % 4 else 2.5 for i in range(n)],
        "text_norm": ["क" * (i % 9) for i in range(n)],
    }
    pq.write_table(pa.table(rows), path, row_group_size=300)
    return rows


def test_every_column_round_trips_across_row_batches(tmp_path):
    rows = _split(tmp_path / "train.parquet")

    def encode(texts):
        return flatten([[len(t)] * len(t) for t in texts.to_pylist()])

    meta = write_clip_table(tmp_path / "train.parquet", tmp_path / "train.arrow", encode, 1024, batch_rows=128)
    t = ClipTable(tmp_path / "train.arrow")
    assert (
        len(t) == meta["rows"] == 1000
        and len(t.paths) == 7
        and sorted(t.groups) == ["extra/hi", "extra/ta", "maya/hi", "maya/ta"]
    )
    for i in range(1000):
        ref = t.ref(i)
        assert ref.path == rows["audio_path"][i] and ref.name == (rows["member"][i] or "")
        assert (ref.offset, ref.nbytes) == ((0, None) if i % 50 == 0 else (512 * i, 100 + i))
        assert t.languages[t.language[i]] == rows["language"][i]
        assert t.groups[t.group[i]] == f"{rows['corpus'][i]}/{rows['language'][i]}"
        assert t.duration_s[i] == (2.5 if i % 4 == 0 else 1.0 + i % 5)
        assert t.tokens(i).tolist() == [i % 9] * (i % 9) and t.num_tokens[i] == i % 9
    assert t.token_values.dtype == np.uint16
    assert t.language_ids(["en", "ta", "hi"])[:3].tolist() == [1, 2, 2]


def test_columns_are_read_only_views_of_the_map_and_pickle_as_the_path(tmp_path):
    _split(tmp_path / "train.parquet")
    write_clip_table(tmp_path / "train.parquet", tmp_path / "train.arrow", lambda x: flatten([[1]] * len(x)), 70000)
    t = ClipTable(tmp_path / "train.arrow")
    for a in (t.duration_s, t.offset, t.path_code, t.token_values, t.token_offsets):
        assert not a.flags.owndata and not a.flags.writeable
    assert t.token_values.dtype == np.int32  # a vocabulary over 65,536
    blob = pickle.dumps(t)
    assert len(blob) < 500  # DataLoader workers started by spawn reopen the file
    assert pickle.loads(blob).ref(7) == t.ref(7)


def test_empty_split(tmp_path):
    _split(tmp_path / "all.parquet")
    pq.write_table(pq.read_table(tmp_path / "all.parquet").slice(0, 0), tmp_path / "empty.parquet")
    write_clip_table(tmp_path / "empty.parquet", tmp_path / "empty.arrow", lambda x: flatten([]), 100)
    t = ClipTable(tmp_path / "empty.arrow")
    assert len(t) == 0 and t.num_tokens.size == 0 and t.token_offsets.tolist() == [0]


def test_token_ids_are_the_nemo_tokenizers(tmp_path):
    from nemo.collections.common.tokenizers import SentencePieceTokenizer

    from tests.stage1_helpers import tokenizer_dir

    model = tokenizer_dir(tmp_path) / "tokenizer.model"
    _split(tmp_path / "train.parquet", 200)
    texts = pq.read_table(tmp_path / "train.parquet").column("text_norm").to_pylist()
    encode = SentencePieceEncoder(model)
    write_clip_table(tmp_path / "train.parquet", tmp_path / "train.arrow", encode, encode.vocab_size)
    t, nemo = ClipTable(tmp_path / "train.arrow"), SentencePieceTokenizer(str(model))
    assert [t.tokens(i).tolist() for i in range(200)] == [nemo.text_to_ids(x) for x in texts]


@pytest.mark.parametrize("bad", ["audio_path", "text_norm"])
def test_a_split_without_a_needed_column_fails_naming_it(tmp_path, bad):
    _split(tmp_path / "train.parquet")
    pq.write_table(pq.read_table(tmp_path / "train.parquet").drop_columns([bad]), tmp_path / "broken.parquet")
    with pytest.raises(Exception, match=bad):
        write_clip_table(tmp_path / "broken.parquet", tmp_path / "x.arrow", lambda x: flatten([[1]] * len(x)), 100)
    assert not (tmp_path / "x.arrow").exists() and not list(tmp_path.glob(".clip_table.*"))


def test_an_encoder_that_loses_texts_is_caught(tmp_path):
    _split(tmp_path / "train.parquet")
    with pytest.raises(ValueError, match="token lists for"):
        write_clip_table(tmp_path / "train.parquet", tmp_path / "x.arrow", lambda x: flatten([[1]] * (len(x) - 1)), 100)
