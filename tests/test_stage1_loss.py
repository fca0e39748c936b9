"""The CPU TDT loss against NeMo's own reference implementations (loss and gradients)."""

from unittest import mock

import pytest
import torch

from maya.stage1.tdt_loss import TDTLossVectorized

DURS = [0, 1, 2, 3, 4]


def _reference_tdt(acts, labels, act_lens, label_lens, blank, sigma):
    from nemo.collections.asr.losses.rnnt_pytorch import TDTLossPytorch

    ref = TDTLossPytorch(blank=blank, durations=DURS, reduction="none", sigma=sigma)
    # The reference allocates its alphas with .cuda(); on a CPU machine that must be a no-op.
    with mock.patch.object(torch.Tensor, "cuda", lambda self, *a, **k: self):
        return ref(acts=acts, labels=labels, act_lens=act_lens, label_lens=label_lens)


def _inputs(seed, B, T, U, V):
    g = torch.Generator().manual_seed(seed)
    acts = torch.randn(B, T, U + 1, V + 1 + len(DURS), generator=g, dtype=torch.float64) * 2
    labels = torch.randint(0, V, (B, U), generator=g)
    act_lens = torch.randint(max(1, T // 2), T + 1, (B,), generator=g)
    act_lens[0] = T
    label_lens = torch.randint(0, U + 1, (B,), generator=g)
    label_lens[0] = U
    return acts, labels, act_lens, label_lens


@pytest.mark.parametrize("seed,B,T,U,V,sigma", [(0, 3, 7, 4, 6, 0.02), (1, 2, 9, 5, 4, 0.0), (2, 4, 5, 3, 8, 0.05)])
def test_loss_and_gradients_match_nemo_reference(seed, B, T, U, V, sigma):
    acts, labels, act_lens, label_lens = _inputs(seed, B, T, U, V)
    a_ref = acts.clone().requires_grad_()
    ref = _reference_tdt(a_ref, labels, act_lens, label_lens, V, sigma)
    (g_ref,) = torch.autograd.grad(ref.sum(), a_ref)
    a = acts.clone().requires_grad_()
    ours = TDTLossVectorized(blank=V, durations=DURS, sigma=sigma)(a, labels, act_lens, label_lens)
    (g,) = torch.autograd.grad(ours.sum(), a)
    torch.testing.assert_close(ours, ref.to(ours.dtype), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)
    assert g.abs().sum() > 0


def test_omega_one_is_the_plain_rnnt_loss():
    from nemo.collections.asr.losses.rnnt_pytorch import RNNTLossPytorch

    acts, labels, act_lens, label_lens = _inputs(3, 3, 6, 4, 5)
    ours = TDTLossVectorized(blank=5, durations=DURS, sigma=0.02, omega=1.0)(acts, labels, act_lens, label_lens)
    ref = RNNTLossPytorch(blank=5, reduction="none")(
        acts=acts[..., : -len(DURS)], labels=labels, act_lens=act_lens, label_lens=label_lens
    )
    torch.testing.assert_close(ours, ref.to(ours.dtype), atol=1e-5, rtol=1e-5)


def test_float32_input_keeps_dtype_and_is_finite_on_long_sequences():
    acts, labels, act_lens, label_lens = _inputs(4, 2, 60, 30, 20)
    a = acts.float().requires_grad_()
    loss = TDTLossVectorized(blank=20, durations=DURS, sigma=0.02)(a, labels, act_lens, label_lens)
    loss.sum().backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all() and torch.isfinite(a.grad).all()


def test_durations_must_include_zero_and_one():
    with pytest.raises(ValueError, match="include 0 and 1"):
        TDTLossVectorized(blank=3, durations=[1, 2])
