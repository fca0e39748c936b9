"""A stock-NeMo copy of a Stage-1 model: ``EncDecHybridRNNTCTCBPEModel``, loadable without ``maya``.

``final.nemo`` names our subclass (``maya.stage1.model.MayaHybridTDTCTC``): NeMo refuses that
target unless ``maya`` is imported first, and fails where ``maya`` is not installed. The subclass
adds one thing at inference, a learned per-language vector added to the encoder output when the
caller gives a language; with no language the two compute the same. So the stock copy is the same
weights minus ``lang_embedding`` under NeMo's own class and config keys, and it transcribes
exactly like ``final.nemo`` without a language hint (the report's ``*_nohint`` rows).
"""

from __future__ import annotations

from pathlib import Path

STOCK_TARGET = "nemo.collections.asr.models.hybrid_rnnt_ctc_bpe_models.EncDecHybridRNNTCTCBPEModel"
# Config keys only MayaHybridTDTCTC reads; NeMo's class has no use for them.
MAYA_KEYS = ("languages", "lang_embedding", "lang_embedding_init_std", "lang_dropout", "recipe")
MAYA_TENSORS = ("lang_embedding.",)


def stock_config(cfg: dict, tokenizer_dir: str | Path) -> dict:
    out = {k: v for k, v in cfg.items() if k not in MAYA_KEYS}
    out["target"] = STOCK_TARGET
    out["tokenizer"] = {"dir": str(tokenizer_dir), "type": "bpe"}
    return out


def export_stock(model_path: str | Path, tokenizer_dir: str | Path, out_path: str | Path) -> dict:
    """Write the stock-NeMo copy of ``model_path`` to ``out_path``; returns what was carried over."""
    from nemo.collections.asr.models import EncDecHybridRNNTCTCBPEModel
    from omegaconf import OmegaConf, open_dict

    from maya.stage1.inference import load_model

    model = load_model(model_path, "cpu")
    cfg = stock_config(OmegaConf.to_container(model.cfg, resolve=True), tokenizer_dir)
    # The stock __init__ builds data loaders from any *_ds section; ours only carries what
    # transcribe() reads, so it goes back in after construction.
    val_ds = cfg.pop("validation_ds", None)
    stock = EncDecHybridRNNTCTCBPEModel(cfg=OmegaConf.create(cfg))
    if val_ds is not None:
        with open_dict(stock.cfg):
            stock.cfg.validation_ds = val_ds
    state = model.state_dict()
    keep = {k: v for k, v in state.items() if not k.startswith(MAYA_TENSORS)}
    stock.load_state_dict(keep, strict=True)  # every stock tensor comes from the trained model
    stock.save_to(str(out_path))
    return {"target": STOCK_TARGET, "tensors": len(keep), "dropped": sorted(set(state) - set(keep))}
