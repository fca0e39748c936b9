"""Train / val / test splits that never leak and never move.

Every clip's split is a pure function of stable keys, so adding shards cannot move an existing
clip: ``u = hash(salt, lang, key)`` is uniform in [0, 1) and ``u < test`` -> test, ``u < test +
val`` -> val, else train. Stratification is per language (and therefore per corpus-language).

- **Speaker-disjoint** (when speakers are known): the key is the speaker, so a speaker's clips all
  land in one split. A language with fewer than ``min_speakers`` speakers falls back to the clip
  as key (splits then share speakers); the fallback is recorded as a warning in the report.
- **Text-disjoint** (optional; needed when sentences repeat across speakers, as in the demo): the
  normalised transcript is hashed too, and a clip joins split X only if its speaker *and* its
  text both fall in X; clips whose speaker and text disagree are excluded and counted.
- Clips whose text normalises to nothing are excluded and counted. A language with no kept clips
  after QC is reported and skipped; no language at all is an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from maya.errors import MayaError
from maya.config import section_defaults
from maya.manifests import MANIFEST_SCHEMA, nemo_entry
from maya.text.normalize import normalize_text

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SPLIT_SCHEMA = MANIFEST_SCHEMA.append(pa.field("text_norm", pa.string())).append(pa.field("split", pa.string()))


_DEFAULTS = section_defaults("splits")


@dataclass(frozen=True)
class SplitSettings:
    """config.splits; defaults are the schema's."""

    val_fraction: float = _DEFAULTS["val_fraction"]
    test_fraction: float = _DEFAULTS["test_fraction"]
    speaker_disjoint: bool = _DEFAULTS["speaker_disjoint"]
    text_disjoint: bool = _DEFAULTS["text_disjoint"]
    min_speakers: int = _DEFAULTS["min_speakers"]  # per language, for a speaker-disjoint split
    salt: str = _DEFAULTS["salt"]  # changing it reshuffles everything, deliberately

    def __post_init__(self):
        if not (0 <= self.val_fraction and 0 <= self.test_fraction and self.val_fraction + self.test_fraction < 1):
            raise ValueError(f"split fractions val={self.val_fraction} test={self.test_fraction} must be >= 0 and sum < 1")


def unit_hash(*parts: str) -> float:
    """Stable uniform number in [0, 1) for a key (sha1: no dependence on PYTHONHASHSEED)."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pool(u: float, s: SplitSettings) -> str:
    if u < s.test_fraction:
        return "test"
    if u < s.test_fraction + s.val_fraction:
        return "val"
    return "train"


def _speakers(paths: list[Path]) -> tuple[set, bool]:
    """Distinct speakers of a language and whether every clip has one (Arrow only, no rows)."""
    speakers: set = set()
    complete = True
    for path in paths:
        col = pq.read_table(path, columns=["speaker_id"]).column(0)
        complete &= col.null_count == 0
        speakers |= {x for x in pc.unique(col).to_pylist() if x}
    return speakers, complete


def assign_split(r: dict, lang: str, by_speaker: bool, settings: SplitSettings) -> tuple[str | None, str, str | None]:
    """(split or None, normalised text, exclusion reason or None) for one clip."""
    norm = normalize_text(r["transcript"] or "", lang)
    if not norm:
        return None, norm, "empty_after_normalisation"
    key = r["speaker_id"] if by_speaker else f"{r['corpus']}/{r['segment_id']}"
    split = pool(unit_hash(settings.salt, lang, "speaker" if by_speaker else "clip", key), settings)
    if settings.text_disjoint:
        text_pool = pool(unit_hash(settings.salt, lang, "text", norm), settings)
        if not by_speaker:
            return text_pool, norm, None
        if text_pool != split:
            return None, norm, "speaker_text_pool_conflict"
    return split, norm, None


def make_splits(manifests: Iterable[str | Path], out_dir: str | Path, settings: SplitSettings,
                batch_rows: int = 65536) -> dict:
    """Stream per-corpus-language manifests (``.../{corpus}/{lang}.parquet``) into
    {train,val,test}.parquet + NeMo .jsonl and report.json. Memory stays at one record batch."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_lang: dict[str, list[Path]] = defaultdict(list)
    report: dict = {"settings": asdict(settings), "languages": {}, "empty_languages": []}
    for path in map(Path, manifests):
        if pq.read_metadata(path).num_rows == 0:
            report["empty_languages"].append(str(path))
            log.warning("%s: no clips kept after QC; skipped", path)
            continue
        by_lang[path.stem].append(path)
    if not by_lang:
        raise MayaError("no clips in any manifest: nothing to split (see results/qc/summary.json)")
    writers = {s: pq.ParquetWriter(out_dir / f"{s}.parquet", SPLIT_SCHEMA) for s in SPLITS}
    jsonl = {s: open(out_dir / f"{s}.jsonl", "w", encoding="utf-8") for s in SPLITS}
    try:
        for lang in sorted(by_lang):
            speakers, complete = _speakers(by_lang[lang])
            by_speaker = settings.speaker_disjoint and complete and len(speakers) >= settings.min_speakers
            stats = {"clips_in": 0, "speakers": len(speakers), "speaker_disjoint": by_speaker,
                     "excluded": Counter(), "warnings": [],
                     **{s: {"clips": 0, "hours": 0.0, "speakers": set()} for s in SPLITS}}
            if settings.speaker_disjoint and not by_speaker:
                msg = (f"{lang}: {len(speakers)} known speakers (min_speakers={settings.min_speakers}"
                       f"{'' if complete else ', and some clips have none'}): split by clip, so val/test "
                       "share speakers with train")
                stats["warnings"].append(msg)
                log.warning(msg)
            for path in by_lang[lang]:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
                    parts: dict[str, list[dict]] = {s: [] for s in SPLITS}
                    for r in batch.to_pylist():
                        stats["clips_in"] += 1
                        split, norm, why = assign_split(r, lang, by_speaker, settings)
                        if split is None:
                            stats["excluded"][why] += 1
                            continue
                        parts[split].append({**r, "text_norm": norm, "split": split})
                    for s, rows in parts.items():
                        if not rows:
                            continue
                        writers[s].write_table(pa.Table.from_pylist(rows, schema=SPLIT_SCHEMA))
                        for r in rows:
                            jsonl[s].write(json.dumps(nemo_entry(r), ensure_ascii=False) + "\n")
                        st = stats[s]
                        st["clips"] += len(rows)
                        st["hours"] += sum(r["duration_s"] or 0.0 for r in rows) / 3600
                        st["speakers"].update(r["speaker_id"] for r in rows)
            for s in SPLITS:
                stats[s]["speakers"] = len(stats[s]["speakers"])
                stats[s]["hours"] = round(stats[s]["hours"], 4)
            stats["excluded"] = dict(sorted(stats["excluded"].items()))
            if stats["test"]["clips"] == 0:
                stats["warnings"].append(f"{lang}: the test split is empty")
            report["languages"][lang] = stats
    finally:
        for w in writers.values():
            w.close()
        for f in jsonl.values():
            f.close()
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    return report
