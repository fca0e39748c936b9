"""Speech synthesis with eSpeak NG through its C API (ctypes).

The ``espeakng-loader`` wheel ships ``libespeak-ng`` and the voice data for all 12 languages,
so no system package is needed. eSpeak keeps global state, so one :class:`Espeak` per process.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

# espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS returns samples to the callback, no sound device.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_espeakCHARS_UTF8 = 1
_espeakRATE, _espeakVOLUME, _espeakPITCH, _espeakRANGE = 1, 2, 3, 4
_POS_CHARACTER = 1

# eSpeak NG voice names for our language codes (they happen to be the ISO codes).
VOICE_FOR_LANG = {
    "as": "as",
    "bn": "bn",
    "en": "en",
    "gu": "gu",
    "hi": "hi",
    "kn": "kn",
    "ml": "ml",
    "mr": "mr",
    "or": "or",
    "pa": "pa",
    "ta": "ta",
    "te": "te",
}

# Voice variants that change timbre; combined with rate and pitch they make pseudo-speakers.
# Only variants without `breath`/`klatt`: their noise source is not reproducible run to run.
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8")
FEMALE_VARIANTS = ("f1", "f4", "Andrea", "Annie", "aunty", "belinda", "linda", "steph")

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    """A pseudo-speaker: an eSpeak voice, a variant, speaking rate (wpm) and pitch (0-100)."""

    lang: str
    variant: str
    rate: int
    pitch: int

    @property
    def gender(self) -> str:
        return "male" if self.variant in MALE_VARIANTS else "female"

    @property
    def name(self) -> str:
        return f"{VOICE_FOR_LANG[self.lang]}+{self.variant}"


class Espeak:
    """Process-wide eSpeak NG synthesiser returning float32 mono audio at ``sample_rate``."""

    _lock = threading.Lock()
    _instance: Espeak | None = None

    def __new__(cls):
        with cls._lock:
            if cls._instance is None:
                inst = super().__new__(cls)
                inst._init()
                cls._instance = inst
            return cls._instance

    def _init(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self._lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        # espeak_Initialize takes the directory that CONTAINS espeak-ng-data.
        data_parent = espeakng_loader.get_data_path().rsplit("/espeak-ng-data", 1)[0]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent.encode(), 0)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed (data at {data_parent})")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []

        def _collect(wav, numsamples, _events):
            if numsamples > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
            return 0  # 0 = continue synthesis

        self._callback = _SYNTH_CALLBACK(_collect)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._callback)

    def synth(self, text: str, voice: Voice) -> np.ndarray:
        """Synthesise ``text``; returns float32 samples in [-1, 1] at ``self.sample_rate``."""
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise EspeakError(f"eSpeak NG has no voice {voice.name!r}")
            self._lib.espeak_SetParameter(_espeakRATE, int(voice.rate), 0)
            self._lib.espeak_SetParameter(_espeakPITCH, int(voice.pitch), 0)
            self._chunks = []
            data = text.encode("utf-8") + b"\0"
            err = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _espeakCHARS_UTF8, None, None)
            if err != 0:
                raise EspeakError(f"espeak_Synth failed with code {err} for {text[:40]!r}")
            chunks, self._chunks = self._chunks, []
        if not chunks:
            raise EspeakError(f"eSpeak NG produced no audio for {text[:40]!r} ({voice.name})")
        return np.concatenate(chunks).astype(np.float32) / 32768.0


def _synth_all(items: list[tuple[str, Voice]]) -> tuple[int, list[np.ndarray]]:
    engine = Espeak()
    return engine.sample_rate, [engine.synth(text, voice) for text, voice in items]


def synth_batch(items: list[tuple[str, Voice]]) -> tuple[int, list[np.ndarray]]:
    """Synthesise ``(text, voice)`` pairs in a freshly spawned process; returns (rate, audio list).

    eSpeak NG carries state from one utterance to the next (wave-generator phase, libc ``rand``),
    so the same text comes out differently depending on what the process said before. A fresh
    process per batch makes the audio a pure function of the batch, whoever calls it.
    """
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_synth_all, (items,))
