"""The Stage-1 network as NeMo module configs, built from ``config["stage1"]["model"]``.

FastConformer encoder (dw-striding subsampling, rel-pos attention, 4x FFN), an LSTM prediction
network, a TDT joint (vocab + blank + one output per duration), an auxiliary CTC head, and the
per-language additive embedding (n_languages x d_model). ``model_summary`` instantiates the real
NeMo modules with every parameter on the meta device, so the 1.1B-parameter production network
is counted without allocating its weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

import torch


def module_configs(model: Mapping[str, Any], vocab_size: int) -> dict[str, dict]:
    """``_target_`` configs of encoder, decoder, joint and CTC decoder (NeMo's own classes)."""
    d = model["d_model"]
    return {
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConformerEncoder",
            "feat_in": model["n_mels"],
            "n_layers": model["n_layers"],
            "d_model": d,
            "subsampling": "dw_striding",
            "subsampling_factor": model["subsampling_factor"],
            "subsampling_conv_channels": model["subsampling_conv_channels"],
            "ff_expansion_factor": 4,
            "self_attention_model": "rel_pos",
            "n_heads": model["n_heads"],
            "att_context_size": [-1, -1],
            "xscaling": True,
            "untie_biases": True,
            "pos_emb_max_len": 5000,
            "conv_kernel_size": model["conv_kernel_size"],
            "conv_norm_type": "batch_norm",
            "dropout": 0.1,
            "dropout_pre_encoder": 0.1,
            "dropout_emb": 0.0,
            "dropout_att": 0.1,
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.RNNTDecoder",
            "normalization_mode": None,
            "random_state_sampling": False,
            "blank_as_pad": True,
            "vocab_size": vocab_size,
            "prednet": {
                "pred_hidden": model["pred_hidden"],
                "pred_rnn_layers": model["pred_rnn_layers"],
                "t_max": None,
                "dropout": 0.2,
            },
        },
        "joint": {
            "_target_": "nemo.collections.asr.modules.RNNTJoint",
            "num_classes": vocab_size,
            # NeMo's default (None) log-softmaxes the joint on CPU only, over labels and durations at
            # once; every TDT loss and decoder normalises its own slices, so that pass is pure cost
            # (~12 % of a CPU step). False is what GPUs already get.
            "num_extra_outputs": len(model["tdt_durations"]),
            "log_softmax": False,
            "preserve_memory": False,
            "fuse_loss_wer": model["fuse_loss_wer"],
            "fused_batch_size": model["fused_batch_size"],
            "jointnet": {
                "encoder_hidden": d,
                "pred_hidden": model["pred_hidden"],
                "joint_hidden": model["joint_hidden"],
                "activation": "relu",
                "dropout": model["joint_dropout"],
            },
        },
        "ctc_decoder": {
            "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
            "feat_in": d,
            "num_classes": vocab_size,
            "vocabulary": [f"<{i}>" for i in range(vocab_size)],
        },
    }


@contextmanager
def parameters_on_meta():
    """Every parameter registered inside the block lives on the meta device (no storage);
    buffers stay real, because NeMo's encoder reads one with ``.item()`` while it is built."""
    original = torch.nn.Module.register_parameter

    def register(self, name, param):
        original(self, name, param)
        if param is not None:
            self._parameters[name] = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    torch.nn.Module.register_parameter = register
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original


def model_summary(model: Mapping[str, Any], vocab_size: int, n_languages: int) -> dict[str, int]:
    """Parameters per component of the Stage-1 network, counted on the meta device."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    counts = {}
    with parameters_on_meta():
        for name, cfg in module_configs(model, vocab_size).items():
            module = instantiate(OmegaConf.create(cfg))
            assert all(p.is_meta for p in module.parameters()), name
            counts[name] = sum(p.numel() for p in module.parameters())
    counts["lang_embedding"] = n_languages * model["d_model"] if model["lang_embedding"] else 0
    counts["total"] = sum(counts.values())
    return counts
