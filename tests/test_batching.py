"""Duration buckets and 2-D duration x token bins."""

import numpy as np

from maya.batching import bucket_table, estimate_bins_2d


def test_bucket_table_counts_everything():
    d = np.array([1.0, 3.9, 4.0, 7.5, 12.0, 19.9, 25.0])
    rows = bucket_table(d, [0, 4, 8, 12, 16, 20])
    assert [r["clips"] for r in rows] == [2, 2, 0, 1, 1, 1]
    assert sum(r["clips"] for r in rows) == len(d)


def test_2d_bins_cover_every_clip():
    rng = np.random.default_rng(0)
    d = rng.uniform(0.5, 20, 1000)
    t = (d * rng.uniform(2, 12, 1000)).astype(int)
    bins = estimate_bins_2d(d, t, num_buckets=5, num_subbuckets=3)
    assert len(bins) == 15
    assert bins == sorted(bins, key=lambda b: b[0]) and bins[-1][0] == round(d.max(), 3)
    for dur, tok in zip(d, t):  # every clip fits some bin
        assert any(dur <= bd + 1e-3 and tok <= bt for bd, bt in bins)
    assert estimate_bins_2d(np.array([]), np.array([]), 3, 2) == []
