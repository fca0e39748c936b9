"""The launch plan's FLOP counts (maya/flops.py) against PyTorch's FlopCounterMode on the real modules
(NeMo's FastConformer encoder, RNN-T joint and CTC decoder; our projection; a Hugging Face Gemma-3)
at small shapes: forward, and forward + backward with the stage's frozen parts, within 10 %."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from maya import flops

MODEL = {
    "d_model": 64,
    "n_layers": 2,
    "n_heads": 4,
    "conv_kernel_size": 9,
    "subsampling_factor": 8,
    "subsampling_conv_channels": 32,
    "n_mels": 80,
    "pred_hidden": 48,
    "pred_rnn_layers": 1,
    "joint_hidden": 56,
    "tdt_durations": [0, 1, 2, 3, 4],
    "fuse_loss_wer": False,
    "fused_batch_size": 4,
    "joint_dropout": 0.0,
}
VOCAB = 120
GEMMA = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "intermediate_size": 160,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "vocab_size": 300,
}


def conv_backward(grad_out_shape, x_shape, w_shape, *args, **kwargs) -> int:
    """PyTorch's formula for a convolution's backward ignores ``groups``: a depthwise convolution's
    backward comes out ``channels`` times too high. Each of grad-input and grad-weight costs what
    the forward costs (the weight shape already holds in-channels per group)."""
    from torch.utils.flop_counter import conv_flop_count

    output_mask = args[7]
    forward = conv_flop_count(x_shape, w_shape, grad_out_shape)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def counted(fn) -> int:
    with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward}) as fc:
        fn()
    return fc.get_total_flops()


def close(ours: float, torch_count: float) -> bool:
    return abs(ours - torch_count) <= 0.10 * torch_count


@pytest.fixture(scope="module")
def modules():
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from maya.stage1.modules import module_configs

    torch.manual_seed(0)
    return {k: instantiate(OmegaConf.create(v)) for k, v in module_configs(MODEL, VOCAB).items()}


@pytest.mark.parametrize(("b", "t_in"), [(2, 400), (3, 1200)])
def test_encoder_forward_and_backward(modules, b, t_in):
    enc = modules["encoder"].train()
    x, n = torch.randn(b, MODEL["n_mels"], t_in), torch.full((b,), t_in)
    assert close(flops.encoder_forward(MODEL, b, t_in), counted(lambda: enc(audio_signal=x, length=n)))
    out, _ = enc(audio_signal=x, length=n)
    assert out.shape[-1] == flops.encoder_frames(MODEL, t_in)
    both = counted(lambda: enc(audio_signal=x, length=n)[0].sum().backward())
    assert close(flops.stage1_step(MODEL, VOCAB, b, t_in, 5)["encoder"], both)


def test_joint_and_ctc_forward_and_backward(modules):
    b, t, u = 2, 40, 12
    joint, ctc = modules["joint"], modules["ctc_decoder"]
    f = torch.randn(b, MODEL["d_model"], t, requires_grad=True)
    g = torch.randn(b, MODEL["pred_hidden"], u + 1, requires_grad=True)
    assert close(
        flops.joint_forward(MODEL, VOCAB, b, t, u), counted(lambda: joint.joint(f.transpose(1, 2), g.transpose(1, 2)))
    )
    both = counted(lambda: joint.joint(f.transpose(1, 2), g.transpose(1, 2)).sum().backward())
    assert close(3 * flops.joint_forward(MODEL, VOCAB, b, t, u), both)
    assert close(flops.ctc_forward(MODEL, VOCAB, b, t), counted(lambda: ctc(encoder_output=f)))


def test_the_joint_dominates_at_production_shapes():
    """Why the plan counts parts: with a 32K vocabulary the joint is about as large as the encoder
    (the issue's estimate), so 6 x params x tokens would undercount a step by about half."""
    prod = {
        **MODEL,
        "d_model": 1024,
        "n_layers": 42,
        "n_heads": 8,
        "subsampling_conv_channels": 256,
        "pred_hidden": 640,
        "pred_rnn_layers": 2,
        "joint_hidden": 640,
    }
    step = flops.stage1_step(prod, 32000, 4, 3000, 100)  # 4 clips of 30 s, 100 tokens each
    assert 0.5 < step["joint"] / step["encoder"] < 2.0


@pytest.mark.parametrize("stage", ["stage2a", "stage2b"])
def test_projection_and_llm_with_the_stage_frozen_parts(stage):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from maya.stage2.projection import Projection

    torch.manual_seed(0)
    llm = Gemma3ForCausalLM(Gemma3TextConfig(**GEMMA, sliding_window=16, attn_implementation="eager")).train()
    projection = Projection(MODEL["d_model"], GEMMA["hidden_size"], 2)
    b, t, u, prompt = 2, 30, 7, 3
    enc_out = torch.randn(b, MODEL["d_model"], t)  # (B, d, T), as the encoder gives it

    def proj(x):
        return projection(x, torch.full((b,), t))[0].transpose(1, 2)

    for p in llm.parameters():
        p.requires_grad = stage != "stage2a"
    assert close(
        flops.projection_forward(MODEL["d_model"], GEMMA["hidden_size"], 2, b, t), counted(lambda: proj(enc_out))
    )

    def step():
        audio = proj(enc_out)
        text = llm.get_input_embeddings()(torch.randint(0, 300, (b, prompt + u + 1)))
        hidden = llm.model(inputs_embeds=torch.cat([audio, text], dim=1)).last_hidden_state
        logits = llm.lm_head(hidden[:, -(u + 1) :])  # target positions only, as MayaSALM does
        logits.float().logsumexp(-1).sum().backward()

    assert flops.encoder_frames(MODEL, 240) == t  # 240 feature frames give these 30 encoder frames
    ours = flops.stage2_step(MODEL, GEMMA, stage, b, 240, u, prompt=prompt)
    assert close(ours["projection"] + ours["llm"], counted(step))
