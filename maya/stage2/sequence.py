"""The decoder's input sequence: ``<bos> [audio frames] <|xx|> <|transcribe|> transcript <eos>``.

Audio positions carry projected encoder frames, every other position a token embedding. Labels
are the next token at positions whose next token is transcript or ``<eos>``, so the loss covers the
transcript and learning to stop, never the audio or the prompt. Built with tensor indexing
(no loop over rows); training pads on the right, generation on the left (the prefix then ends at
the same position in every row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

IGNORE = -100


@dataclass(frozen=True)
class Sequences:
    embeds: torch.Tensor  # (B, L, H)
    attention_mask: torch.Tensor  # (B, L) 1 = real position
    labels: torch.Tensor  # (B, L) next-token targets, IGNORE elsewhere
    token_ids: torch.Tensor  # (B, L) token ids, -1 at audio positions, pad id at padding


def build_sequences(
    audio: torch.Tensor,
    audio_lens: torch.Tensor,
    prompt: torch.Tensor,
    embed: Callable,
    bos_id: int,
    pad_id: int,
    eos_id: int | None = None,
    targets: torch.Tensor | None = None,
    target_lens: torch.Tensor | None = None,
    left_pad: bool = False,
) -> Sequences:
    """``audio`` (B, Ta, H) projected frames with ``audio_lens`` valid; ``prompt`` (B, P) token ids
    (language, task); ``targets`` (B, U) transcript ids with ``target_lens`` (training) or None
    (generation prefix). ``embed`` maps token ids to (…, H) embeddings."""
    B, Ta, H = audio.shape
    dev = audio.device
    audio_lens = audio_lens.to(dev)
    P = prompt.shape[1]
    prompt = prompt.to(dev)
    if targets is None:
        target_lens = torch.full((B,), -1, dtype=torch.long, device=dev)  # no transcript, no <eos>
        targets = torch.zeros((B, 1), dtype=torch.long, device=dev)
    else:
        targets, target_lens = targets.to(dev), target_lens.to(dev)
    n = 1 + audio_lens + P + target_lens + 1
    L = int(n.max())
    pos = torch.arange(L, device=dev)[None, :].expand(B, L)
    if left_pad:
        pos = pos - (L - n)[:, None]
    valid = (pos >= 0) & (pos < n[:, None])
    a = pos - 1
    is_audio = (a >= 0) & (a < audio_lens[:, None])
    p = a - audio_lens[:, None]
    is_prompt = (p >= 0) & (p < P)
    t = p - P
    is_target = (t >= 0) & (t < target_lens[:, None])
    is_eos = t == target_lens[:, None]

    ids = torch.full((B, L), pad_id, dtype=torch.long, device=dev)
    ids = torch.where(pos == 0, torch.full_like(ids, bos_id), ids)
    ids = torch.where(is_prompt, prompt.gather(1, p.clamp(0, P - 1)), ids)
    ids = torch.where(is_target, targets.gather(1, t.clamp(0, targets.shape[1] - 1)), ids)
    if eos_id is not None:
        ids = torch.where(is_eos, torch.full_like(ids, eos_id), ids)
    emb = embed(ids)
    frames = audio.gather(1, a.clamp(0, Ta - 1)[..., None].expand(B, L, H)).to(emb.dtype)
    emb = torch.where(is_audio[..., None], frames, emb)

    labels = torch.full((B, L), IGNORE, dtype=torch.long, device=dev)
    learn = is_target | (is_eos & (eos_id is not None))
    labels[:, :-1] = torch.where(learn[:, 1:], ids[:, 1:], IGNORE)
    return Sequences(emb, valid.long(), labels, torch.where(is_audio, -1, ids))
