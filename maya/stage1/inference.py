"""Loading a model (Stage-1 ``.nemo``, Stage-2/3 ``final.ckpt``) and transcribing audio files with Stage 1."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from maya.errors import MayaError


def load_model(path: str | Path, device: str | None = None):
    import torch
    from nemo.collections.asr.models import ASRModel

    import maya  # noqa: F401  (allow-lists maya. targets before NeMo restores)

    if not Path(path).exists():
        raise MayaError(f"{path}: model not found (train it with `snakemake {path}`)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if str(path).endswith(".ckpt"):  # Stages 2a/2b/3: a MayaSALM Lightning checkpoint
        from maya.stage2.model import MayaSALM

        return MayaSALM.load_from_checkpoint(str(path), map_location=torch.device(device), weights_only=False).eval()
    model = ASRModel.restore_from(str(path), map_location=torch.device(device))
    model.eval()
    return model


def transcribe(
    model, audio: Sequence[str], lang: str | None = None, decoder: str = "tdt", batch_size: int = 8
) -> list[str]:
    """Texts for ``audio`` (file paths). ``lang`` is the language hint (None: no hint)."""
    for a in audio:
        if not Path(a).exists():
            raise MayaError(f"{a}: audio file not found")
    model.use_decoder(decoder)
    out = model.transcribe_with_lang(list(audio), lang=lang, batch_size=batch_size, verbose=False)
    if isinstance(out, tuple):  # some NeMo paths return (best, all)
        out = out[0]
    return [h.text if hasattr(h, "text") else str(h) for h in out]
