"""FLOPs of one training micro-batch, per part, counted from the shapes (no model built).

A multiply-add is 2 FLOPs; only matrix products and convolutions are counted (what tensor cores do;
norms, activations, softmax and the loss are a few percent and left out, as PyTorch's
``FlopCounterMode`` does). ``tests/test_flops.py`` checks each count against ``FlopCounterMode`` on
the real NeMo and Hugging Face modules at small shapes (within 10 %).

Backward: a trainable part costs 2x its forward (gradients for inputs and weights); a frozen part
whose inputs need gradients costs 1x (inputs only); a frozen part at the bottom of the graph costs
nothing. Stage 1 with the encoder frozen (the first 5K steps) therefore pays the encoder's forward
only; Stage 2a pays the LLM's forward and an input-gradient backward, 2b both weight and input
gradients.

Shapes: ``b`` utterances, ``t_in`` feature frames (10 ms), ``t`` encoder frames after subsampling,
``u`` output tokens per utterance. Attention is counted over the whole sequence (what the kernels
compute, masks included).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def encoder_forward(model: Mapping[str, Any], b: int, t_in: int) -> float:
    """NeMo's FastConformer (dw-striding subsampling, rel-pos attention, macaron FFN x4, conv module)."""
    d, layers, k = model["d_model"], model["n_layers"], model["conv_kernel_size"]
    c, n_mels, factor = model["subsampling_conv_channels"], model["n_mels"], model["subsampling_factor"]
    stages = int(math.log2(factor))
    flops = 0.0
    t_s, f_s = t_in, n_mels
    for i in range(stages):
        t_s, f_s = _half(t_s), _half(f_s)
        if i == 0:
            flops += 2 * b * t_s * f_s * c * 9  # conv 1 -> c, 3x3
        else:
            flops += 2 * b * t_s * f_s * c * 9 + 2 * b * t_s * f_s * c * c  # depthwise 3x3 + pointwise
    t = t_s
    flops += 2 * b * t * (c * f_s) * d  # the linear out of the subsampling
    per_frame = (
        2 * 2 * (2 * d * 4 * d)  # two feed-forward modules, d -> 4d -> d
        + 4 * 2 * d * d  # q, k, v, out projections
        + 2 * d * d * (2 * t - 1) / t  # linear_pos over the 2t-1 relative positions
        + 2 * 2 * t * d  # q k^T and attention x v
        + 2 * (2 * t - 1) * d  # q against the relative positions (matrix_bd)
        + 2 * d * 2 * d  # pointwise conv d -> 2d (GLU)
        + 2 * k * d  # depthwise conv
        + 2 * d * d  # pointwise conv d -> d
    )
    return flops + layers * b * t * per_frame


def _half(n: int) -> int:
    return (n + 2 * 1 - 3) // 2 + 1  # kernel 3, stride 2, padding 1


def encoder_frames(model: Mapping[str, Any], t_in: int) -> int:
    t = t_in
    for _ in range(int(math.log2(model["subsampling_factor"]))):
        t = _half(t)
    return t


def prediction_forward(model: Mapping[str, Any], b: int, u: int) -> float:
    """The LSTM prediction network over ``u + 1`` positions (the blank start included)."""
    h, layers = model["pred_hidden"], model["pred_rnn_layers"]
    return layers * b * (u + 1) * 2 * 4 * h * (h + h)


def joint_forward(model: Mapping[str, Any], vocab: int, b: int, t: int, u: int) -> float:
    """The TDT joint: encoder and prediction projections, then B x T x (U+1) x (V + 1 + durations)."""
    d, p, hj = model["d_model"], model["pred_hidden"], model["joint_hidden"]
    out = vocab + 1 + len(model["tdt_durations"])
    return 2 * b * t * d * hj + 2 * b * (u + 1) * p * hj + 2 * b * t * (u + 1) * hj * out


def ctc_forward(model: Mapping[str, Any], vocab: int, b: int, t: int) -> float:
    return 2 * b * t * model["d_model"] * (vocab + 1)


def stage1_step(
    model: Mapping[str, Any], vocab: int, b: int, t_in: int, u: int, encoder_frozen: bool = False
) -> dict[str, float]:
    """Forward + backward FLOPs of one Stage-1 micro-batch, per part."""
    t = encoder_frames(model, t_in)
    enc = encoder_forward(model, b, t_in)
    return {
        "encoder": enc * (1 if encoder_frozen else 3),
        "prediction": 3 * prediction_forward(model, b, u),
        "joint": 3 * joint_forward(model, vocab, b, t, u),
        "ctc": 3 * ctc_forward(model, vocab, b, t),
    }


def projection_forward(d_enc: int, hidden: int, downsample: int, b: int, t: int) -> float:
    """The build guide's projection: Conv1d(k, stride k) -> LayerNorm -> Linear -> SiLU -> Linear."""
    t2 = t // downsample
    return 2 * b * t2 * d_enc * d_enc * downsample + 2 * b * t2 * d_enc * hidden + 2 * b * t2 * hidden * hidden


def llm_forward(llm: Mapping[str, Any], b: int, s: int, logits: int) -> float:
    """A Gemma-style decoder over ``s`` positions, with the LM head on ``logits`` positions only
    (target tokens: the loss never needs the other 262K-way rows)."""
    h, layers, inter = llm["hidden_size"], llm["num_hidden_layers"], llm["intermediate_size"]
    heads, kv = llm["num_attention_heads"], llm["num_key_value_heads"]
    hd = llm.get("head_dim") or h // heads
    per_token = (
        2 * h * heads * hd  # q
        + 2 * 2 * h * kv * hd  # k, v
        + 2 * heads * hd * h  # o
        + 3 * 2 * h * inter  # gate, up, down
        + 2 * 2 * s * hd * heads  # q k^T, attention x v
    )
    return layers * b * s * per_token + 2 * b * logits * h * llm["vocab_size"]


def stage2_step(
    s1_model: Mapping[str, Any],
    llm: Mapping[str, Any],
    stage: str,
    b: int,
    t_in: int,
    u: int,
    prompt: int = 3,
    downsample: int = 2,
) -> dict[str, float]:
    """Forward + backward FLOPs of one Stage-2 micro-batch: the frozen encoder (forward only), the
    projection (trained), the LLM (2a frozen: input gradients; 2b/3 trained) on audio + prompt +
    target positions."""
    t = encoder_frames(s1_model, t_in)
    s = t // downsample + prompt + u + 1
    llm_f = llm_forward(llm, b, s, u + 1)
    return {
        "encoder": encoder_forward(s1_model, b, t_in),
        "projection": 3 * projection_forward(s1_model["d_model"], llm["hidden_size"], downsample, b, t),
        "llm": llm_f * (2 if stage == "stage2a" else 3),
    }
