"""Pretrained encoder init (from .nemo and from an encoder .pt, include/exclude, layer expansion),
waveform augmentation, SpecAugment settings, and the joint-memory model."""

import numpy as np
import pytest
import torch

from maya.errors import MayaError
from tests.stage1_helpers import build, demo_config, tokenizer_dir


@pytest.fixture(scope="module")
def pretrained(stage1_dir):
    torch.manual_seed(123)
    m = build(stage1_dir)
    path = stage1_dir / "pretrained.nemo"
    m.save_to(str(path))
    return m, path


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_init_from_nemo_copies_the_encoder_only(stage1_dir, pretrained):
    from maya.stage1.init import init_from_pretrained

    src, path = pretrained
    torch.manual_seed(7)
    m = build(stage1_dir)
    assert not _same(m.encoder, src.encoder)
    report = init_from_pretrained(m, path, include=["encoder."])
    assert _same(m.encoder, src.encoder)
    assert not _same(m.decoder, src.decoder) and not _same(m.joint, src.joint)
    assert report["loaded"] == len(src.encoder.state_dict()) and report["not_initialised"] == []


def test_include_exclude_and_a_bare_encoder_state_dict(stage1_dir, pretrained):
    from maya.stage1.init import init_from_pretrained

    src, _ = pretrained
    pt = stage1_dir / "encoder.pt"
    torch.save(src.encoder.state_dict(), pt)  # keys without the "encoder." prefix
    torch.manual_seed(8)
    m = build(stage1_dir)
    report = init_from_pretrained(m, pt, include=["encoder."], exclude=["encoder.pre_encode.*"])
    assert torch.equal(m.encoder.layers[1].norm_out.weight, src.encoder.layers[1].norm_out.weight)
    assert not torch.equal(m.encoder.pre_encode.out.weight, src.encoder.pre_encode.out.weight)
    assert any(s["reason"] == "excluded" for s in report["skipped"])
    assert all(n.startswith("encoder.pre_encode") for n in report["not_initialised"])


def test_shape_mismatches_are_reported_and_nothing_matching_is_an_error(stage1_dir, pretrained):
    from maya.stage1.init import init_from_pretrained

    _, path = pretrained
    wider = build(stage1_dir, d_model=48, pred_hidden=48, joint_hidden=48, subsampling_conv_channels=8)
    with pytest.raises(MayaError, match="no tensor matched"):
        init_from_pretrained(wider, path)
    narrow_conv = build(stage1_dir, subsampling_conv_channels=8)
    report = init_from_pretrained(narrow_conv, path)
    assert report["loaded"] > 0
    assert any("shape" in s["reason"] and s["name"].startswith("encoder.pre_encode") for s in report["skipped"])
    with pytest.raises(MayaError, match="not found"):
        init_from_pretrained(wider, stage1_dir / "missing.nemo")


@pytest.mark.parametrize("mode", ["duplicate", "interpolate"])
def test_layer_expansion_from_two_to_four_layers(stage1_dir, pretrained, mode):
    from maya.stage1.init import init_from_pretrained

    src, path = pretrained
    deep = build(stage1_dir, n_layers=4)
    report = init_from_pretrained(deep, path, expand=mode)
    assert report["not_initialised"] == []

    def w(m, i):
        return m.encoder.layers[i].feed_forward1.linear1.weight.detach()

    torch.testing.assert_close(w(deep, 0), w(src, 0))
    torch.testing.assert_close(w(deep, 3), w(src, 1))
    if mode == "duplicate":
        assert torch.equal(w(deep, 1), w(src, 0)) and torch.equal(w(deep, 2), w(src, 1))
    else:  # layer 1 sits a third of the way from source layer 0 to 1
        torch.testing.assert_close(w(deep, 1), (2 / 3) * w(src, 0) + (1 / 3) * w(src, 1))


def test_speed_perturbation_and_noise_at_the_requested_snr():
    from maya.stage1.data import add_noise, speed_perturb, synthetic_noise

    x = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220).astype(np.float32)
    assert len(speed_perturb(x, 1.1)) == pytest.approx(16000 / 1.1, abs=2)
    assert len(speed_perturb(x, 0.9)) == pytest.approx(16000 / 0.9, abs=2)
    assert speed_perturb(x, 1.0) is x
    rng = np.random.default_rng(0)
    for snr in (5.0, 20.0):
        noise = synthetic_noise(len(x), rng)
        y = add_noise(x, noise, snr)
        measured = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
        assert measured == pytest.approx(snr, abs=0.01)


def test_production_augmentation_and_spec_augment_settings(stage1_dir):
    import yaml

    from maya.config import deep_update, validate_config
    from maya.stage1.model import nemo_config
    from tests.helpers import REPO

    prod = validate_config(
        deep_update(
            yaml.safe_load((REPO / "config.yaml").read_text()),
            yaml.safe_load((REPO / "config" / "prod.yaml").read_text()),
        )
    )
    aug = prod["stage1"]["augment"]
    assert aug["speed_perturb"] == [0.9, 1.0, 1.1] and aug["noise_snr_db"] == [5, 20]
    cfg = nemo_config(prod["stage1"], tokenizer_dir(stage1_dir), prod["languages"])
    sa = cfg.spec_augment
    assert (sa.freq_masks, sa.freq_width, sa.time_masks, sa.time_width) == (2, 27, 10, 0.05)
    assert cfg.loss.tdt_kwargs.durations == [0, 1, 2, 3, 4]
    assert cfg.loss.tdt_kwargs.sigma == 0.02 and cfg.loss.tdt_kwargs.omega == 0.1
    assert cfg.joint.fuse_loss_wer and cfg.joint.fused_batch_size == 4
    assert cfg.encoder.n_layers == 42 and cfg.encoder.d_model == 1024 and cfg.encoder.subsampling_factor == 8


def test_memory_model_token_cap_grows_with_the_budget():
    from maya.stage1.memory import plan

    model = demo_config()["stage1"]["model"] | {
        "n_layers": 42,
        "d_model": 1024,
        "n_heads": 8,
        "subsampling_factor": 8,
        "fuse_loss_wer": True,
        "fused_batch_size": 4,
    }
    small = plan(model, 1_143_000_000, 32000, 120.0, 20.0, 40.0)
    big = plan(model, 1_143_000_000, 32000, 120.0, 20.0, 75.0)
    assert big["predicted_token_cap"] > small["predicted_token_cap"] > 0
    assert small["static_gb"] == pytest.approx(1_143_000_000 * 18 / 1024**3)
    unfused = plan(model | {"fuse_loss_wer": False}, 1_143_000_000, 32000, 120.0, 20.0, 75.0)
    assert unfused["predicted_token_cap"] < big["predicted_token_cap"]
