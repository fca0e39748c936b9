"""Duration buckets and 2-D duration x token bins."""

import numpy as np
import pytest

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
    for dur, tok in zip(d, t, strict=True):  # every clip fits some bin
        assert any(dur <= bd + 1e-3 and tok <= bt for bd, bt in bins)
    assert estimate_bins_2d(np.array([]), np.array([]), 3, 2) == []


def test_bucket_batch_size_is_the_largest_batch_the_memory_model_fits():
    import yaml

    from maya.batching import FRAME_SHIFT_S, bucket_batch_sizes
    from maya.config import deep_update, validate_config
    from maya.stage1.memory import predicted_peak_gb
    from tests.helpers import REPO

    cfg = validate_config(
        deep_update(
            yaml.safe_load((REPO / "config.yaml").read_text()), yaml.safe_load((REPO / "config/prod.yaml").read_text())
        )
    )
    model, vocab, n_params, budget = cfg["stage1"]["model"], 32000, 600_000_000, 75.0
    bins = [[2.0, 10], [2.0, 40], [8.0, 40], [20.0, 120]]
    sizes = bucket_batch_sizes(bins, model, n_params, vocab, budget)
    assert sizes[0] >= sizes[1] >= sizes[2] >= sizes[3] >= 1 and sizes[0] > sizes[3]
    for (dur, tok), b in zip(bins, sizes, strict=True):
        frames = int(dur / FRAME_SHIFT_S / model["subsampling_factor"]) + 1
        assert predicted_peak_gb(model, n_params, vocab, b, frames, tok) <= budget
        assert predicted_peak_gb(model, n_params, vocab, b + 1, frames, tok) > budget


@pytest.mark.parametrize("seed,n,buckets", [(0, 500, 5), (1, 2000, 30), (2, 37, 4)])
def test_duration_buckets_are_lhotses(seed, n, buckets):
    from lhotse import MonoCut
    from lhotse.dataset.sampling.dynamic_bucketing import estimate_duration_buckets

    from maya.batching import equal_duration_starts

    durations = np.round(np.random.default_rng(seed).gamma(4.0, 2.0, n).clip(0.5, 20.0), 3)
    cuts = [MonoCut(id=str(i), start=0.0, duration=float(d), channel=0) for i, d in enumerate(durations)]
    assert equal_duration_starts(durations, buckets) == pytest.approx(estimate_duration_buckets(cuts, buckets))
