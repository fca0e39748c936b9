"""Stage-1 data: a map-style dataset over ``TarOffsetReader``, waveform augmentation, collation.

``ClipDataset`` reads the clips of a clip table (``maya.clip_table``: tar path, byte offset and
size, language, token ids, memory-mapped) straight from the original shard tars; nothing is
extracted. Train-time waveform augmentation (speed perturbation, additive noise at a random SNR)
happens here, in the DataLoader workers; SpecAugment runs inside the NeMo model.

A batch is NeMo's ``(signal, signal_len, tokens, tokens_len)`` plus language ids, the fifth
element ``MayaHybridTDTCTC`` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from maya.audio.reader import TarOffsetReader
from maya.clip_table import ClipTable
from maya.clips import pad_audio


@dataclass(frozen=True)
class WaveAugment:
    speed_factors: tuple[float, ...] = (1.0,)
    noise_snr_db: tuple[float, float] | None = None
    noise_prob: float = 0.0
    noise_files: tuple[str, ...] = ()  # empty: synthetic pink/white noise
    seed: int = 0


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (pitch moves with it, as Kaldi/NeMo speed perturbation does)."""
    if factor == 1.0:
        return audio
    from scipy.signal import resample_poly

    frac = Fraction(factor).limit_denominator(100)
    return resample_poly(audio, frac.denominator, frac.numerator).astype(np.float32)


def synthetic_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """White or pink noise (1/f, by spectral shaping), chosen at random."""
    white = rng.standard_normal(n).astype(np.float32)
    if rng.random() < 0.5:
        return white
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n).astype(np.float32)


def add_noise(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    if len(noise) < len(audio):
        noise = np.tile(noise, int(np.ceil(len(audio) / max(1, len(noise)))))
    noise = noise[: len(audio)]
    p_sig = float(np.mean(audio**2)) + 1e-12
    p_noise = float(np.mean(noise**2)) + 1e-12
    scale = np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
    return (audio + scale * noise).astype(np.float32)


class ClipDataset(torch.utils.data.Dataset):
    """Clips of a clip table (``maya.clip_table``), read by byte offset from the shard tars;
    item = (audio, token ids, language id). Holds only memory-mapped arrays: forked DataLoader
    workers share them instead of copying."""

    def __init__(
        self, clips: ClipTable, languages: Sequence[str], sample_rate: int = 16000, augment: WaveAugment | None = None
    ):
        self.clips = clips
        self.language_lookup = clips.language_lookup(list(languages))  # per code, not per clip
        self.sample_rate = sample_rate
        self.augment = augment
        self.reader = TarOffsetReader(sample_rate=sample_rate)
        self.epoch = 0
        self._noise_cache: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def durations(self) -> np.ndarray:
        return self.clips.duration_s

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if not self.augment.noise_files:
            return synthetic_noise(n, rng)
        if self._noise_cache is None:
            from maya.audio.reader import decode_bytes

            self._noise_cache = [
                decode_bytes(Path(p).read_bytes(), self.sample_rate)[0] for p in self.augment.noise_files
            ]
        noise = self._noise_cache[rng.integers(len(self._noise_cache))]
        start = rng.integers(0, max(1, len(noise) - n))
        return noise[start : start + n]

    def __getitem__(self, i: int):
        audio = self.reader.read(self.clips.ref(i))
        if self.augment is not None:
            # Per (seed, epoch, clip): the same augmentation on a rerun or a resumed run.
            rng = np.random.default_rng([self.augment.seed, self.epoch, i])
            factor = float(rng.choice(self.augment.speed_factors))
            audio = speed_perturb(audio, factor)
            if self.augment.noise_snr_db is not None and rng.random() < self.augment.noise_prob:
                lo, hi = self.augment.noise_snr_db
                audio = add_noise(audio, self._noise(rng, len(audio)), float(rng.uniform(lo, hi)))
        tokens = torch.from_numpy(self.clips.tokens(i).astype(np.int64))
        return torch.from_numpy(audio), tokens, int(self.language_lookup[self.clips.language[i]])


def release_free_memory() -> None:
    """Give the heap that planning an epoch freed back to the OS (glibc ``malloc_trim``) before
    DataLoader workers fork: otherwise each worker's allocations reuse those inherited free pages
    and copy them (measured: +2.4 GB PSS for 6 workers at 53M clips)."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def collate(items):
    audios, tokens, langs = zip(*items, strict=True)
    sig, a_len = pad_audio(audios)
    t_len = torch.tensor([len(t) for t in tokens], dtype=torch.long)
    tok = torch.zeros(len(items), max(1, int(t_len.max())), dtype=torch.long)
    for i, t in enumerate(tokens):
        tok[i, : len(t)] = t
    return sig, a_len, tok, t_len, torch.tensor(langs, dtype=torch.long)
