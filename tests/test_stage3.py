"""Stage 3's clip choice: text-rate plausibility over every clip, a bounded pool per language,
then the lowest Stage-1 CER per language quota."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from maya.stage3 import choose, pool_rows, quotas, rate_scores, write_rows


def _split(path, n_per_lang=20):
    rng = np.random.default_rng(0)
    rows = {"segment_id": [], "language": [], "text_norm": [], "duration_s": [], "decoded_duration_s": []}
    for lang, cps in (("hi", 12.0), ("ta", 9.0)):
        for i in range(n_per_lang):
            chars = int(rng.integers(20, 60))
            rate = cps * (4.0 if i == 0 else 1.0 + rng.normal(0, 0.05))  # clip 0: a misaligned transcript
            rows["segment_id"].append(f"{lang}_{i:03d}")
            rows["language"].append(lang)
            rows["text_norm"].append(" ".join(["x" * 5] * (chars // 5)))
            rows["duration_s"].append(chars // 5 * 5 / rate)
            rows["decoded_duration_s"].append(None)
    pq.write_table(pa.table(rows), path, row_group_size=7)  # several row groups: the reads stream
    return rows


def test_rate_deviation_flags_implausible_clips_per_language(tmp_path):
    _split(tmp_path / "train.parquet")
    code, dev, langs = rate_scores(tmp_path / "train.parquet")
    assert langs == ["hi", "ta"] and len(code) == 40
    for c in range(2):
        rows = np.flatnonzero(code == c)
        assert np.argmax(dev[rows]) == 0  # the 4x-rate clip is the least plausible in its language
    q = quotas(code, 2, 0.1)
    assert q.tolist() == [2, 2]
    pool = pool_rows(code, dev, q, pool_factor=3)
    assert len(pool) == 12 and 0 not in pool and 20 not in pool and np.all(np.diff(pool) > 0)


def test_choice_takes_the_lowest_cer_per_language_and_writes_its_scores(tmp_path):
    rows = _split(tmp_path / "train.parquet")
    code, dev, langs = rate_scores(tmp_path / "train.parquet")
    pool = pool_rows(code, dev, quotas(code, 2, 0.1), pool_factor=3)
    n = write_rows(tmp_path / "train.parquet", pool, tmp_path / "pool.parquet", {"rate_deviation": dev[pool]})
    assert n == len(pool)
    t = pq.read_table(tmp_path / "pool.parquet")
    assert t.column("segment_id").to_pylist() == [rows["segment_id"][i] for i in pool]
    # Stage-1 hypotheses: perfect for two clips per language, one wrong word for the others.
    perfect = {t.column("segment_id")[i].as_py() for i in (1, 4, 7, 10)}
    hyps = [
        {
            "lang": r["language"],
            "ref": r["text_norm"],
            "hyp": r["text_norm"] if r["segment_id"] in perfect else r["text_norm"].replace("xxxxx", "yyyyy", 1),
        }
        for r in t.to_pylist()
    ]
    keep, cer = choose(tmp_path / "pool.parquet", hyps, {"hi": 2, "ta": 2})
    chosen = {t.column("segment_id")[int(i)].as_py() for i in keep}
    assert chosen == perfect and np.all(cer[keep] == 0) and np.all(cer[np.setdiff1d(np.arange(len(t)), keep)] > 0)
    write_rows(tmp_path / "pool.parquet", keep, tmp_path / "chosen.parquet", {"stage1_cer": cer[keep]})
    out = pq.read_table(tmp_path / "chosen.parquet")
    assert set(out.column_names) >= {"segment_id", "rate_deviation", "stage1_cer"} and out.num_rows == 4
