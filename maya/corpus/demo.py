"""The embedded demo corpus: 12 languages of eSpeak NG speech in the production shard layout.

The text is the project's own (``maya/data/demo_text/{lang}.txt``). Pseudo-speakers are eSpeak
voice variants with their own rate and pitch. Everything is a pure function of (seed, language,
shard index), so the same seed gives byte-identical shards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from tqdm import tqdm

from maya.config import section_defaults
from maya.espeak import FEMALE_VARIANTS, MALE_VARIANTS, Voice, synth_batch
from maya.shard_schema import LANGUAGES
from maya.shard_writer import ShardWriter, encode_flac

log = logging.getLogger(__name__)

MIN_SENTENCES_PER_LANGUAGE = 150


@dataclass(frozen=True)
class Sentence:
    domain: str
    text: str


@dataclass(frozen=True)
class Speaker:
    speaker_id: str
    voice: Voice


def shard_name(index: int) -> str:
    return f"shard_{index:05d}"


def load_sentences(lang: str) -> list[Sentence]:
    """Sentences of ``lang`` from the package data; ``## domain`` lines start a domain."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    text = resources.files("maya.data.demo_text").joinpath(f"{lang}.txt").read_text("utf-8")
    domain, out, seen = "general", [], set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("##"):
            domain = line.lstrip("#").strip()
            continue
        if line.startswith("#"):
            continue
        if line not in seen:
            seen.add(line)
            out.append(Sentence(domain, line))
    return out


def speakers_for(lang: str, n_speakers: int, seed: int, rate_wpm: Sequence[int] | None = None) -> list[Speaker]:
    """Deterministic pseudo-speakers: alternate genders, each with its own variant, rate
    (uniform in ``rate_wpm``, inclusive; the schema's ``demo_corpus.rate_wpm`` when None) and pitch."""
    lo, hi = rate_wpm if rate_wpm is not None else section_defaults("demo_corpus")["rate_wpm"]
    rng = np.random.default_rng([seed, LANGUAGES.index(lang), 1])
    speakers = []
    for k in range(n_speakers):
        variants = FEMALE_VARIANTS if k % 2 == 0 else MALE_VARIANTS
        variant = variants[int(rng.integers(len(variants)))]
        voice = Voice(lang, variant, rate=int(rng.integers(lo, hi + 1)), pitch=int(rng.integers(25, 76)))
        speakers.append(Speaker(f"{lang}_spk{k:02d}", voice))
    return speakers


def synthesise_shard(
    root: str | Path,
    lang: str,
    shard_index: int,
    clips_per_shard: int,
    speakers_per_language: int,
    seed: int,
    sample_rate: int = 16000,
    noise_snr_db: tuple[float, float] = (30.0, 45.0),
    rate_wpm: Sequence[int] | None = None,
) -> Path:
    """Write one demo shard; returns its directory."""
    sentences = load_sentences(lang)
    speakers = speakers_for(lang, speakers_per_language, seed, rate_wpm)
    rng = np.random.default_rng([seed, LANGUAGES.index(lang), 2, shard_index])
    sid = shard_name(shard_index)
    picks = [
        (speakers[int(rng.integers(len(speakers)))], sentences[int(rng.integers(len(sentences)))])
        for _ in range(clips_per_shard)
    ]
    tts_rate, speech = synth_batch([(sent.text, spk.voice) for spk, sent in picks])
    from scipy.signal import resample_poly  # 0.7 s to import: not at DAG-build time

    g = np.gcd(sample_rate, tts_rate)
    up, down = sample_rate // g, tts_rate // g
    writer = ShardWriter(Path(root), lang, sid, extra_manifest={"source": "maya-demo-espeak-ng", "seed": seed})
    with writer:
        for j in tqdm(range(clips_per_shard), desc=f"{lang}/{sid}", unit="clip", disable=None):
            spk, sent = picks[j]
            lead, trail = (int(rng.uniform(0.05, 0.3) * tts_rate) for _ in range(2))
            audio = np.concatenate([np.zeros(lead, np.float32), speech[j], np.zeros(trail, np.float32)])
            audio = resample_poly(audio, up, down).astype(np.float32)
            snr = rng.uniform(*noise_snr_db)
            rms = float(np.sqrt(np.mean(audio**2))) or 1e-3
            audio += rng.standard_normal(audio.shape[0]).astype(np.float32) * rms * 10 ** (-snr / 20)
            audio = np.clip(audio, -1.0, 1.0)
            writer.add(
                f"{lang}_{sid}_{j:06d}",
                encode_flac(audio, sample_rate),
                transcript=sent.text,
                duration_s=audio.shape[0] / sample_rate,
                speaker_id=spk.speaker_id,
                domain=sent.domain,
                gender=spk.voice.gender,
                sample_rate=sample_rate,
            )
    log.info("wrote %s (%d clips)", writer.dir, clips_per_shard)
    return writer.dir
