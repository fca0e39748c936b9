"""The one text normalisation used by tokenizer training, token counting and evaluation.

``normalize_text(text, lang)`` applies, in order:

1. **Unicode NFC.** Precomposed nukta letters that Unicode excludes from composition (Devanagari
   क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़ U+0958-U+095F, Bengali ড় ঢ় য় U+09DC-U+09DF, Gurmukhi ਖ਼ ਗ਼ ਜ਼ ੜ ਫ਼ ਲ਼ ਸ਼,
   Odia ଡ଼ ଢ଼) come out as base + nukta, so both ways of typing them become one string. Two-part
   vowel signs (Tamil ொ, Malayalam ൊ) are composed.
2. **Legacy sequences to atomic letters.** Malayalam chillus written consonant + virama + ZWJ
   (ന്‍) become the atomic chillu (ൻ U+0D7B, and ൺ ർ ൽ ൾ ൿ); Bengali/Assamese ত + ্ + ZWJ becomes
   khanda ta ৎ. These are the same letters encoded two ways.
3. **Invisible characters removed:** ZWJ and ZWNJ (they choose a glyph shape, not a different
   word), zero-width space, BOM, soft hyphen, bidi marks.
4. **Digits:** every Indic digit (Devanagari, Bengali-Assamese, Gurmukhi, Gujarati, Odia, Tamil,
   Telugu, Kannada, Malayalam) and Arabic-Indic digit becomes ASCII 0-9 (``digits="keep"`` to skip).
5. **Punctuation:** ``|`` typed for a danda is a danda; then all punctuation (Unicode P*, which
   includes danda । and double danda ॥) is replaced by a space, except an apostrophe between two
   letters (English don't). ``punctuation="keep"`` keeps it.
6. **Case:** Latin letters are lower-cased (``lowercase=False`` to skip); Indic scripts have no case.
7. **Whitespace:** any run of Unicode whitespace becomes one space; leading/trailing removed.

The result can be empty (text that was only punctuation): callers count and exclude such clips.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# First code point of each script's digit zero; the nine that follow are 1-9.
_DIGIT_ZEROS = (0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0660, 0x06F0)
_DIGITS = {zero + i: str(i) for zero in _DIGIT_ZEROS for i in range(10)}

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e"))

_VIRAMA_ZWJ = {
    "\u0d23\u0d4d\u200d": "\u0d7a",  # ണ് + ZWJ -> ൺ
    "\u0d28\u0d4d\u200d": "\u0d7b",  # ന് + ZWJ -> ൻ
    "\u0d30\u0d4d\u200d": "\u0d7c",  # ര് + ZWJ -> ർ
    "\u0d32\u0d4d\u200d": "\u0d7d",  # ല് + ZWJ -> ൽ
    "\u0d33\u0d4d\u200d": "\u0d7e",  # ള് + ZWJ -> ൾ
    "\u0d15\u0d4d\u200d": "\u0d7f",  # ക് + ZWJ -> ൿ
    "\u09a4\u09cd\u200d": "\u09ce",  # ত্ + ZWJ -> ৎ
}
_VIRAMA_ZWJ_RE = re.compile("|".join(map(re.escape, _VIRAMA_ZWJ)))
_APOSTROPHES = dict.fromkeys(map(ord, "\u2019\u2018\u02bc\u0060\u00b4"), "'")
_WS = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def _strip_punctuation(text: str) -> str:
    out = []
    n = len(text)
    for i, ch in enumerate(text):
        if ch == "'" and 0 < i < n - 1 and text[i - 1].isalpha() and text[i + 1].isalpha():
            out.append(ch)  # don't, o'clock
        elif _is_punct(ch):
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def normalize_text(
    text: str, lang: str | None = None, *, punctuation: str = "remove", digits: str = "ascii", lowercase: bool = True
) -> str:
    """Normalise ``text`` (of language ``lang``) as described in the module docstring."""
    if punctuation not in ("remove", "keep") or digits not in ("ascii", "keep"):
        raise ValueError(f"punctuation must be remove|keep and digits ascii|keep, got {punctuation!r}, {digits!r}")
    text = unicodedata.normalize("NFC", text)
    text = _VIRAMA_ZWJ_RE.sub(lambda m: _VIRAMA_ZWJ[m.group(0)], text)
    text = text.translate(_INVISIBLE)
    if digits == "ascii":
        text = text.translate(_DIGITS)
    text = text.translate(_APOSTROPHES).replace("|", "\u0964")
    if punctuation == "remove":
        text = _strip_punctuation(text)
    if lowercase:
        text = text.lower()  # only cased scripts change; Indic letters have no case
    return _WS.sub(" ", text).strip()


# ---- the same normalisation over an Arrow column (no Python object per text) -----------------
def _re_class(chars) -> str:
    """An RE2 character class of ``chars``, consecutive code points as ranges."""
    cps = sorted(set(map(ord, chars)))
    runs, start = [], None
    for i, cp in enumerate(cps):
        start = cp if start is None else start
        if i + 1 == len(cps) or cps[i + 1] != cp + 1:
            runs.append(f"\\x{{{start:x}}}" + (f"-\\x{{{cp:x}}}" if cp > start else ""))
            start = None
    return "[" + "".join(runs) + "]"


# Python's str.isspace() beyond ASCII's " \t\n\v\f\r" (what `re`'s `\s` also matches).
_OTHER_SPACE_RE = _re_class(chr(c) for c in range(0x110000) if chr(c).isspace() and chr(c) not in " \t\n\v\f\r")
# A sentinel for an apostrophe kept between letters while all other punctuation goes (a
# noncharacter: no text should hold it, and a text that does is normalised in Python instead).
_KEEP = "\ufdd0"
# Letters whose Python lower() is not one simple mapping (İ -> i + dot; Σ -> ς at a word's end).
_SPECIAL_LOWER_RE = _re_class([chr(c) for c in range(0x10000) if len(chr(c).lower()) > 1] + ["\u03a3"])
# Code points this Python's Unicode tables do not know (Arrow's may: newer Unicode).
_UNASSIGNED_RE = _re_class(
    chr(c) for c in range(0x10000) if unicodedata.category(chr(c)) == "Cn" and not 0xFDD0 <= c <= 0xFDEF
)
_ANY_DIGIT_RE = _re_class(chr(z + i) for z in _DIGIT_ZEROS for i in range(10))


def _where(t, pattern: str, fn):
    """``fn`` applied only to the strings matching ``pattern`` (most texts need no such pass)."""
    import pyarrow.compute as pc

    mask = pc.match_substring_regex(t, pattern)
    if not pc.any(mask).as_py():
        return t
    return pc.replace_with_mask(t, mask, fn(pc.filter(t, mask)))


def _digits_to_ascii(t):
    import pyarrow.compute as pc

    for i in range(10):
        t = pc.replace_substring_regex(t, _re_class(chr(zero + i) for zero in _DIGIT_ZEROS), str(i))
    return t


def _legacy_sequences(t):
    import pyarrow.compute as pc

    for seq, letter in _VIRAMA_ZWJ.items():
        t = pc.replace_substring(t, seq, letter)
    return t


def normalize_array(
    texts, lang: str | None = None, *, punctuation: str = "remove", digits: str = "ascii", lowercase: bool = True
):
    """``normalize_text`` of every string of an Arrow array (nulls become ""), with Arrow's
    kernels; equal to the per-text function (tests compare them on real text in 10 scripts)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if punctuation not in ("remove", "keep") or digits not in ("ascii", "keep"):
        raise ValueError(f"punctuation must be remove|keep and digits ascii|keep, got {punctuation!r}, {digits!r}")
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    raw = pc.fill_null(texts.cast(pa.large_string()), "")
    t = pc.utf8_normalize(raw, "NFC")
    t = _where(t, "\u200d", _legacy_sequences)
    t = pc.replace_substring_regex(t, _re_class(map(chr, _INVISIBLE)), "")
    if digits == "ascii":
        t = _where(t, _ANY_DIGIT_RE, _digits_to_ascii)
    t = pc.replace_substring_regex(t, _re_class(map(chr, _APOSTROPHES)), "'")
    t = pc.replace_substring(t, "|", "\u0964")
    if punctuation == "remove":
        # Two passes: "a'b'c" overlaps, and a match consumes the letter the next one needs.
        for _ in range(2):
            t = pc.replace_substring_regex(t, r"(\pL)'(\pL)", "\\1" + _KEEP + "\\2")
        t = pc.replace_substring_regex(t, r"\pP", " ")
        t = pc.replace_substring(t, _KEEP, "'")
    if lowercase:
        t = pc.utf8_lower(t)
    t = _where(t, _OTHER_SPACE_RE, lambda x: pc.replace_substring_regex(x, _OTHER_SPACE_RE, " "))
    t = pc.utf8_trim(pc.binary_join(pc.ascii_split_whitespace(t), pa.scalar(" ", pa.large_string())), " ")
    # Where Arrow's Unicode handling could differ from Python's (a sentinel in the input, text
    # outside the Basic Multilingual Plane, special case mappings), use the per-text function.
    odd = pc.or_(pc.match_substring(raw, _KEEP), pc.match_substring_regex(raw, r"[^\x{0}-\x{ffff}]"))
    odd = pc.or_(odd, pc.match_substring_regex(raw, _UNASSIGNED_RE))
    if lowercase:
        odd = pc.or_(odd, pc.match_substring_regex(raw, _SPECIAL_LOWER_RE))
    if pc.any(odd).as_py():
        fixed = [
            normalize_text(s, lang, punctuation=punctuation, digits=digits, lowercase=lowercase)
            for s in pc.filter(raw, odd).to_pylist()
        ]
        t = pc.replace_with_mask(t, odd, pa.array(fixed, pa.large_string()))
    return t
