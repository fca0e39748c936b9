"""A memory model of Stage-1 training on one GPU, to derive the sampler's token cap.

Three terms, in bytes:

- **static**: parameters, gradients and AdamW's two moments in fp32 (16 bytes per parameter; with
  bf16-mixed the fp32 master weights are the parameters themselves), plus the bf16 copy of the
  weights autocast keeps (2 bytes per parameter);
- **encoder activations**: per Conformer layer ``s*b*h*(34 + 5*a*s/h)`` bytes for sequence length
  ``s`` (frames after subsampling), batch ``b``, width ``h`` and ``a`` heads (Korthikanti et al. 2022,
  "Reducing Activation Recomputation in Large Transformer Models", 16-bit activations), plus the
  convolution module (~``10*s*b*h``);
- **joint**: the TDT joint tensor ``B x T x (U+1) x (V+1+D)`` exists only for ``fused_batch_size``
  utterances at a time when the fused joint is on; logits, log-softmax and gradient in fp32 make it
  three copies of 4 bytes.

The token cap is the largest total output tokens for which a micro-batch at the batch-duration cap
(in the longest bucket) fits the budget. It is a planning figure; the GPU run in the closing note
compares it with measured peak memory.
"""

from __future__ import annotations

from collections.abc import Mapping


def static_bytes(n_params: int) -> int:
    return n_params * (16 + 2)


def encoder_activation_bytes(frames: int, batch: int, d_model: int, n_heads: int, n_layers: int) -> float:
    per_layer = frames * batch * d_model * (34 + 5 * n_heads * frames / d_model) + 10 * frames * batch * d_model
    return per_layer * n_layers


def joint_bytes(
    batch: int, frames: int, tokens_per_utt: float, vocab: int, n_durations: int, fused_batch_size: int | None
) -> float:
    b = min(batch, fused_batch_size) if fused_batch_size else batch
    return b * frames * (tokens_per_utt + 1) * (vocab + 1 + n_durations) * 4 * 3


def plan(
    model: Mapping,
    n_params: int,
    vocab: int,
    max_batch_duration_s: float,
    longest_clip_s: float,
    budget_gb: float,
    frame_shift_s: float = 0.01,
) -> dict:
    """Predicted memory at the caps and the largest token cap that fits ``budget_gb``."""
    frames = int(longest_clip_s / frame_shift_s / model["subsampling_factor"])
    batch = max(1, int(max_batch_duration_s // longest_clip_s))
    fused = model["fused_batch_size"] if model.get("fuse_loss_wer") else None
    n_dur = len(model["tdt_durations"])
    static = static_bytes(n_params)
    enc = encoder_activation_bytes(frames, batch, model["d_model"], model["n_heads"], model["n_layers"])
    budget = budget_gb * 1024**3
    free = budget - static - enc
    # joint(B, T, U) grows linearly in U: solve for the tokens per utterance that fit ``free``.
    per_token = joint_bytes(batch, frames, 1, vocab, n_dur, fused) - joint_bytes(batch, frames, 0, vocab, n_dur, fused)
    u_max = max(0.0, (free - joint_bytes(batch, frames, 0, vocab, n_dur, fused)) / per_token) if per_token else 0.0
    return {
        "budget_gb": budget_gb,
        "batch_at_cap": batch,
        "frames_per_clip": frames,
        "static_gb": static / 1024**3,
        "encoder_activations_gb": enc / 1024**3,
        "joint_gb_per_100_tokens": joint_bytes(batch, frames, 100, vocab, n_dur, fused) / 1024**3,
        "predicted_token_cap": int(u_max * batch),
    }


def predicted_peak_gb(
    model: Mapping, n_params: int, vocab: int, batch: int, frames: int, tokens_per_utt: float
) -> float:
    fused = model["fused_batch_size"] if model.get("fuse_loss_wer") else None
    total = (
        static_bytes(n_params)
        + encoder_activation_bytes(frames, batch, model["d_model"], model["n_heads"], model["n_layers"])
        + joint_bytes(batch, frames, tokens_per_utt, vocab, len(model["tdt_durations"]), fused)
    )
    return total / 1024**3
