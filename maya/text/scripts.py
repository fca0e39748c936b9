"""Which Unicode script each language is written in, and how much of a text is in it."""

from __future__ import annotations

import unicodedata

# Code-point ranges of each language's script. Bengali and Assamese share the Bengali block.
SCRIPT_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "as": ((0x0980, 0x09FF),),
    "bn": ((0x0980, 0x09FF),),
    "en": ((0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x024F)),
    "gu": ((0x0A80, 0x0AFF),),
    "hi": ((0x0900, 0x097F), (0xA8E0, 0xA8FF)),
    "kn": ((0x0C80, 0x0CFF),),
    "ml": ((0x0D00, 0x0D7F),),
    "mr": ((0x0900, 0x097F), (0xA8E0, 0xA8FF)),
    "or": ((0x0B00, 0x0B7F),),
    "pa": ((0x0A00, 0x0A7F),),
    "ta": ((0x0B80, 0x0BFF),),
    "te": ((0x0C00, 0x0C7F),),
}
SCRIPT_NAMES = {
    "as": "Bengali-Assamese",
    "bn": "Bengali-Assamese",
    "en": "Latin",
    "gu": "Gujarati",
    "hi": "Devanagari",
    "kn": "Kannada",
    "ml": "Malayalam",
    "mr": "Devanagari",
    "or": "Odia",
    "pa": "Gurmukhi",
    "ta": "Tamil",
    "te": "Telugu",
}


def in_script(ch: str, lang: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in SCRIPT_RANGES[lang])


def script_fraction(text: str, lang: str) -> float:
    """Share of the letters and marks in ``text`` that belong to ``lang``'s script (1.0 if none)."""
    letters = [c for c in text if unicodedata.category(c)[0] in "LM"]
    if not letters:
        return 1.0
    return sum(in_script(c, lang) for c in letters) / len(letters)
