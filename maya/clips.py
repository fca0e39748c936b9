"""Clip rows of a split or test-set Parquet (read column-wise): where the audio is, how long it is,
and a padded batch of decoded clips. Shared by training (``maya.stage1.data``), evaluation
(``maya.evaluation``) and the batching artifacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from maya.audio.reader import AudioRef


def clip_ref(rows: Mapping[str, list], i: int) -> AudioRef:
    """Row ``i``: a byte range in a shard tar, or a whole file when the clip is not a tar member."""
    member = rows["member"][i]
    return AudioRef(
        rows["audio_path"][i], rows["offset"][i] or 0, rows["nbytes"][i] if member is not None else None, member or ""
    )


def clip_durations(decoded: Sequence, metadata: Sequence) -> np.ndarray:
    """Seconds per clip: the decoded duration where QC measured one, else the metadata's."""
    dec = np.asarray(decoded, dtype=float)  # None -> nan
    return np.where(np.isnan(dec), np.asarray(metadata, dtype=float), dec)


def pad_audio(audio: Sequence[np.ndarray]):
    """(signal (B, T) float32 zero-padded, lengths (B,)) as torch tensors."""
    import torch

    lens = torch.tensor([len(a) for a in audio], dtype=torch.long)
    sig = torch.zeros(len(audio), int(lens.max()) if len(audio) else 0)
    for k, a in enumerate(audio):
        sig[k, : len(a)] = torch.as_tensor(a)
    return sig, lens
