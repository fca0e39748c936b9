"""The build guide's projection from encoder frames to LLM embeddings, as a SALM modality adapter.

``Conv1d(d_enc, d_enc, kernel 2, stride 2) -> LayerNorm -> Linear(d_enc, d_llm) -> SiLU ->
Linear(d_llm, d_llm)``. SALM's ``AudioPerceptionModule`` calls it with the encoder output
``(B, d_enc, T)`` and expects ``(B, d_llm, T')`` back; it reads ``subsampling_factor`` for the
audio duration per LLM position, and sets ``output_dim`` from ``llm.config.hidden_size``.
"""

from __future__ import annotations

import torch
from torch import nn


class Projection(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, downsample: int = 2):
        super().__init__()
        self.subsampling_factor = downsample
        self.conv = nn.Conv1d(input_dim, input_dim, kernel_size=downsample, stride=downsample)
        self.norm = nn.LayerNorm(input_dim)
        self.mlp = nn.Sequential(nn.Linear(input_dim, output_dim), nn.SiLU(), nn.Linear(output_dim, output_dim))

    def forward(self, audio_signal: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.subsampling_factor
        if audio_signal.shape[-1] < k:  # a clip shorter than one stride still yields one position
            audio_signal = nn.functional.pad(audio_signal, (0, k - audio_signal.shape[-1]))
        x = self.conv(audio_signal).transpose(1, 2)  # (B, T', d_enc)
        x = self.mlp(self.norm(x)).transpose(1, 2)  # (B, d_llm, T')
        return x, torch.div(length, k, rounding_mode="floor").clamp_min(1)
