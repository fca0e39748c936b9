"""Token-and-Duration Transducer loss in vectorised PyTorch, for machines without a GPU.

NeMo's ``tdt`` loss is a Numba CUDA kernel and raises on CPU; its ``tdt_pytorch`` reference loops
over (b, t, u) in Python and calls ``.cuda()``. This module computes the same quantity (TDT paper,
arXiv:2304.06795, eq. 7, with NeMo's logit under-normalisation ``sigma`` and its ``omega``
sampling of the plain RNN-T loss) with one Python iteration per frame:

- arrivals from earlier frames (blank or label with duration d > 0) are one gather over (B, U, D);
- label emissions with duration 0 stay in the same frame, a recurrence along U that is solved in
  closed form with ``logcumsumexp`` over the cumulative emission log-probabilities;
- gradients come from the same recursion run backwards (beta) and the arc posteriors
  ``exp(alpha + arc + beta - log P)``, computed for all frames at once, so backward costs about
  what forward does (autograd through T steps of small ops was 3x slower).

The recursion runs in float64 (it only touches gathered (B, T, U, D) tensors, not the vocabulary),
so ``logcumsumexp`` over long label sequences loses nothing. The interface is NeMo's
(``acts, labels, act_lens, label_lens`` -> per-utterance losses), so it slots in as
``RNNTLoss._loss`` and NeMo's reduction, fused joint and metrics stay in charge.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

NEG = -1.0e30  # log(0) that keeps gradients finite (``-inf`` gives NaN through logcumsumexp)


def _forward_logprob(
    blank_lp: torch.Tensor,
    emit_lp: torch.Tensor,
    dur_lp: torch.Tensor,
    durations: Sequence[int],
    label_durations: Sequence[int],
    blank_durations: Sequence[int],
    act_lens: torch.Tensor,
    label_lens: torch.Tensor,
) -> torch.Tensor:
    """log P(y | x) per utterance.

    blank_lp: (B, T, U+1)  log p(blank | t, u)
    emit_lp:  (B, T, U)    log p(y_{u+1} | t, u)
    dur_lp:   (B, T, U+1, D) log p(duration_n | t, u)
    ``label_durations`` / ``blank_durations``: indices n into ``durations`` each arc may take.
    """
    B, T, U1 = blank_lp.shape
    dev, dt = blank_lp.device, blank_lp.dtype
    # Per-arc weights, with NEG where an arc is not allowed.
    lab_n = [n for n in label_durations if durations[n] > 0]
    blk_n = [n for n in blank_durations if durations[n] > 0]
    zero_n = [n for n in label_durations if durations[n] == 0]
    neg_col = torch.full((B, T, 1), NEG, dtype=dt, device=dev)
    emit_pad = torch.cat([neg_col, emit_lp], dim=2)  # arrival at u from u-1; u=0 has no label arc
    alphas: list[torch.Tensor] = []
    init = torch.full((B, U1), NEG, dtype=dt, device=dev)
    init[:, 0] = 0.0
    if zero_n:
        e0 = emit_lp + dur_lp[:, :, :-1, zero_n[0]]  # (B, T, U): stay in frame t, u -> u+1
        c = torch.cat([torch.zeros(B, T, 1, dtype=dt, device=dev), torch.cumsum(e0, dim=2)], dim=2)
    for t in range(T):
        terms = [init] if t == 0 else []
        for n in set(lab_n) | set(blk_n):
            d = durations[n]
            if t - d < 0:
                continue
            a = alphas[t - d]
            if n in blk_n:
                terms.append(a + blank_lp[:, t - d] + dur_lp[:, t - d, :, n])
            if n in lab_n:
                prev = torch.cat([torch.full((B, 1), NEG, dtype=dt, device=dev), a[:, :-1]], dim=1)
                terms.append(
                    prev
                    + emit_pad[:, t - d]
                    + torch.cat([torch.full((B, 1), NEG, dtype=dt, device=dev), dur_lp[:, t - d, :-1, n]], dim=1)
                )
        arrive = torch.logsumexp(torch.stack(terms), dim=0) if terms else torch.full((B, U1), NEG, dtype=dt, device=dev)
        arrive = arrive.clamp_min(NEG)
        if zero_n:
            ct = c[:, t]
            alpha_t = ct + torch.logcumsumexp(arrive - ct, dim=1)
        else:
            alpha_t = arrive
        alphas.append(alpha_t)
    alpha = torch.stack(alphas, dim=1)  # (B, T, U+1)

    # Terminate with a blank of duration d > 0 that lands exactly on act_len.
    b_idx = torch.arange(B, device=dev)
    finals = []
    for n in blk_n:
        d = durations[n]
        t_last = act_lens - d
        ok = t_last >= 0
        t_c = t_last.clamp_min(0)
        val = alpha[b_idx, t_c, label_lens] + blank_lp[b_idx, t_c, label_lens] + dur_lp[b_idx, t_c, label_lens, n]
        finals.append(torch.where(ok, val, torch.full_like(val, NEG)))
    return torch.logsumexp(torch.stack(finals), dim=0), alpha


def _backward_logprob(blank_lp, emit_lp, dur_lp, durations, label_durations, blank_durations, act_lens, label_lens):
    """beta(t, u) = log P(rest of y | in state (t, u)), with a terminal state at (T_b, U_b).

    Returns (beta_blank_dest, beta_label_dest), both (B, T + max_d + 1, U+1): the first includes
    the terminal state (where final blanks land), the second does not (labels never land there).
    """
    B, T, U1 = blank_lp.shape
    U = U1 - 1
    dev, dt = blank_lp.device, blank_lp.dtype
    max_d = max(durations)
    lab_n = [n for n in label_durations if durations[n] > 0]
    blk_n = [n for n in blank_durations if durations[n] > 0]
    zero_n = [n for n in label_durations if durations[n] == 0]
    beta_b = torch.full((B, T + max_d + 1, U1), NEG, dtype=dt, device=dev)
    beta_l = torch.full((B, T + max_d + 1, U1), NEG, dtype=dt, device=dev)
    b_idx = torch.arange(B, device=dev)
    beta_b[b_idx, act_lens, label_lens] = 0.0
    u_range = torch.arange(U1, device=dev)
    neg_col = torch.full((B, 1), NEG, dtype=dt, device=dev)
    for t in range(T - 1, -1, -1):
        terms = []
        for n in set(lab_n) | set(blk_n):
            d = durations[n]
            if n in blk_n:
                terms.append(blank_lp[:, t] + dur_lp[:, t, :, n] + beta_b[:, t + d])
            if n in lab_n:
                terms.append(torch.cat([emit_lp[:, t] + dur_lp[:, t, :U, n] + beta_l[:, t + d, 1:], neg_col], dim=1))
        arrive = torch.logsumexp(torch.stack(terms), dim=0).clamp_min(NEG)
        if zero_n:
            e0 = emit_lp[:, t] + dur_lp[:, t, :U, zero_n[0]]
            c = torch.cat([torch.zeros(B, 1, dtype=dt, device=dev), torch.cumsum(e0, dim=1)], dim=1)
            beta_t = -c + torch.flip(torch.logcumsumexp(torch.flip(arrive + c, [1]), dim=1), [1])
        else:
            beta_t = arrive
        valid = (t < act_lens)[:, None] & (u_range[None, :] <= label_lens[:, None])
        beta_t = torch.where(valid, beta_t, torch.full_like(beta_t, NEG))
        beta_l[:, t] = beta_t
        # Keep the terminal state of utterances that end at frame t.
        ends = act_lens == t
        beta_b[:, t] = torch.where(
            ends[:, None] & (u_range[None, :] == label_lens[:, None]), torch.zeros_like(beta_t), beta_t
        )
    return beta_b, beta_l


class _TDTFunction(torch.autograd.Function):
    """log P(y|x) with gradients from alpha-beta posteriors (no autograd graph over T steps)."""

    @staticmethod
    def forward(ctx, blank_lp, emit_lp, dur_lp, act_lens, label_lens, durations, label_durations, blank_durations):
        with torch.no_grad():
            ll, alpha = _forward_logprob(
                blank_lp, emit_lp, dur_lp, durations, label_durations, blank_durations, act_lens, label_lens
            )
        ctx.save_for_backward(blank_lp, emit_lp, dur_lp, act_lens, label_lens, alpha, ll)
        ctx.arcs = (durations, label_durations, blank_durations)
        return ll

    @staticmethod
    def backward(ctx, grad_ll):
        blank_lp, emit_lp, dur_lp, act_lens, label_lens, alpha, ll = ctx.saved_tensors
        durations, label_durations, blank_durations = ctx.arcs
        beta_b, beta_l = _backward_logprob(
            blank_lp, emit_lp, dur_lp, durations, label_durations, blank_durations, act_lens, label_lens
        )
        B, T, U1 = blank_lp.shape
        U = U1 - 1
        g = grad_ll.to(alpha.dtype)[:, None, None]
        ll_ = ll[:, None, None]
        g_blank = torch.zeros_like(blank_lp)
        g_emit = torch.zeros_like(emit_lp)
        g_dur = torch.zeros_like(dur_lp)
        for n in blank_durations:
            d = durations[n]
            if d == 0:
                continue
            post = torch.exp(alpha + blank_lp + dur_lp[..., n] + beta_b[:, d : d + T] - ll_)
            g_blank += post
            g_dur[..., n] += post
        for n in label_durations:
            d = durations[n]
            post = torch.exp(alpha[:, :, :U] + emit_lp + dur_lp[:, :, :U, n] + beta_l[:, d : d + T, 1:] - ll_)
            g_emit += post
            g_dur[:, :, :U, n] += post
        return g_blank * g, g_emit * g, g_dur * g[..., None], None, None, None, None, None


class _ArcLogProbs(torch.autograd.Function):
    """The few log-probabilities the recursion reads, straight from the joint's logits.

    ``acts`` is (B, T, U+1, V+1+D): labels and blank, then D duration logits. Returns the blank
    and next-label log-softmax over V+1 (B, T, U+1, 2; the label slot at u = U repeats the blank
    and gets no gradient) and the duration log-softmax (B, T, U+1, D). Autograd through
    log_softmax -> gather would write half a dozen (B, T, U+1, V) tensors per step (the log-probs,
    the zeros every gather and slice scatters into, their sum); here backward writes one:
    ``softmax * -sum(g) + scatter(g)``.
    """

    @staticmethod
    def forward(ctx, acts, index, D):
        labels = acts[..., :-D]
        lse = torch.logsumexp(labels, dim=-1, keepdim=True)
        picked = torch.gather(labels, -1, index) - lse
        durations = torch.log_softmax(acts[..., -D:], dim=-1)
        ctx.save_for_backward(acts, index, lse, durations)
        ctx.D = D
        return picked, durations

    @staticmethod
    def backward(ctx, g_picked, g_dur):
        acts, index, lse, durations = ctx.saved_tensors
        D = ctx.D
        grad = torch.empty_like(acts)
        g_lab = grad[..., :-D]
        torch.sub(acts[..., :-D], lse, out=g_lab)
        g_lab.exp_().mul_(-g_picked.sum(-1, keepdim=True))
        g_lab.scatter_add_(-1, index, g_picked)
        grad[..., -D:] = g_dur - durations.exp() * g_dur.sum(-1, keepdim=True)
        return grad, None, None


class TDTLossVectorized(torch.nn.Module):
    """Drop-in for NeMo's ``TDTLossNumba`` (reduction 'none'): per-utterance negative log-likelihood."""

    def __init__(
        self, blank: int, durations: Sequence[int], sigma: float = 0.0, omega: float = 0.0, reduction: str | None = None
    ):
        super().__init__()
        if 0 not in durations or 1 not in durations:
            raise ValueError(f"TDT durations must include 0 and 1, got {list(durations)}")
        self.blank, self.durations = blank, list(durations)
        self.sigma, self.omega, self.reduction = sigma, omega, reduction

    def forward(
        self, acts: torch.Tensor, labels: torch.Tensor, act_lens: torch.Tensor, label_lens: torch.Tensor
    ) -> torch.Tensor:
        D = len(self.durations)
        labels = labels.long()
        act_lens, label_lens = act_lens.long(), label_lens.long()
        B, T, U = acts.shape[0], acts.shape[1], labels.shape[1]
        acts = acts if acts.shape[2] == U + 1 else acts[:, :, : U + 1]
        # Same sampling as NeMo's kernel: with probability omega this batch trains the plain RNN-T loss.
        plain_rnnt = self.omega > 0 and random.uniform(0, 1) < self.omega
        next_label = torch.cat([labels, torch.full_like(labels[:, :1], self.blank)], dim=1)
        index = torch.stack([torch.full_like(next_label, self.blank), next_label], dim=-1)
        picked, dur_logp = _ArcLogProbs.apply(acts.float(), index[:, None].expand(B, T, U + 1, 2), D)
        picked = picked.double() - (0.0 if plain_rnnt else self.sigma)
        blank_lp, emit_lp = picked[..., 0], picked[:, :, :U, 1]
        if plain_rnnt:
            one = self.durations.index(1)
            zero = self.durations.index(0)
            dur_lp = torch.zeros(*blank_lp.shape, D, dtype=torch.float64, device=acts.device)
            ll = _TDTFunction.apply(blank_lp, emit_lp, dur_lp, act_lens, label_lens, self.durations, (zero,), (one,))
        else:
            dur_lp = dur_logp.double()
            every = list(range(D))
            ll = _TDTFunction.apply(
                blank_lp, emit_lp, dur_lp, act_lens, label_lens, self.durations, tuple(every), tuple(every)
            )
        return (-ll).to(acts.dtype if acts.dtype.is_floating_point else torch.float32)
