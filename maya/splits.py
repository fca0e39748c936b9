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
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from maya.config import section_defaults
from maya.errors import MayaError
from maya.jsonl import write_lines
from maya.manifests import MANIFEST_SCHEMA, nemo_lines
from maya.parquet_batches import iter_batches
from maya.text.normalize import normalize_array

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
        if not (self.val_fraction >= 0 and self.test_fraction >= 0 and self.val_fraction + self.test_fraction < 1):
            raise ValueError(
                f"split fractions val={self.val_fraction} test={self.test_fraction} must be >= 0 and sum < 1"
            )


def unit_hash(*parts: str) -> float:
    """Stable uniform number in [0, 1) for a key (sha1: no dependence on PYTHONHASHSEED)."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def unit_hashes(keys: pa.Array, *prefix: str) -> np.ndarray:
    """``unit_hash(*prefix, key)`` of every key, hashing each distinct key once (a language's
    speakers number in the thousands, its clips in the millions)."""
    uniq = pc.unique(keys)
    values = np.array([unit_hash(*prefix, k) for k in uniq.to_pylist()], dtype=np.float64)
    return values[pc.index_in(keys, uniq).to_numpy(zero_copy_only=False)]


def pools(u: np.ndarray, s: SplitSettings) -> np.ndarray:
    """Index into SPLITS of each number in [0, 1): test below test_fraction, then val, then train."""
    return np.where(u < s.test_fraction, 2, np.where(u < s.test_fraction + s.val_fraction, 1, 0)).astype(np.int8)


def _speakers(paths: list[Path]) -> tuple[set, bool]:
    """Distinct speakers of a language and whether every clip has one (Arrow only, no rows)."""
    speakers: set = set()
    complete = True
    for path in paths:
        col = pq.read_table(path, columns=["speaker_id"]).column(0)
        complete &= col.null_count == 0
        speakers |= {x for x in pc.unique(col).to_pylist() if x}
    return speakers, complete


def assign_splits(
    batch: pa.RecordBatch, lang: str, by_speaker: bool, settings: SplitSettings
) -> tuple[pa.Array, np.ndarray, dict[str, int]]:
    """(normalised texts, split index per clip with -1 for excluded, exclusion counts) of a batch."""
    norm = normalize_array(batch.column("transcript"), lang)
    if by_speaker:
        split = pools(
            unit_hashes(pc.fill_null(batch.column("speaker_id"), ""), settings.salt, lang, "speaker"), settings
        )
    else:
        keys = pc.binary_join_element_wise(batch.column("corpus"), batch.column("segment_id"), "/")
        split = pools(unit_hashes(keys, settings.salt, lang, "clip"), settings)
    empty = pc.equal(norm, "").to_numpy(zero_copy_only=False)
    excluded = {"empty_after_normalisation": int(empty.sum())}
    if settings.text_disjoint:
        text_pool = pools(unit_hashes(norm, settings.salt, lang, "text"), settings)
        if by_speaker:
            conflict = (text_pool != split) & ~empty  # empty text is the reason that counts
            excluded["speaker_text_pool_conflict"] = int(conflict.sum())
            split[conflict] = -1
        else:
            split = text_pool
    split[empty] = -1
    return norm, split, {k: v for k, v in excluded.items() if v}


def make_splits(
    manifests: Iterable[str | Path], out_dir: str | Path, settings: SplitSettings, batch_rows: int = 65536
) -> dict:
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
    jsonl = {s: open(out_dir / f"{s}.jsonl", "wb") for s in SPLITS}  # noqa: SIM115 (closed in finally)
    try:
        for lang in sorted(by_lang):
            speakers, complete = _speakers(by_lang[lang])
            by_speaker = settings.speaker_disjoint and complete and len(speakers) >= settings.min_speakers
            stats = {
                "clips_in": 0,
                "speakers": len(speakers),
                "speaker_disjoint": by_speaker,
                "excluded": Counter(),
                "warnings": [],
                **{s: {"clips": 0, "hours": 0.0, "speakers": set()} for s in SPLITS},
            }
            if settings.speaker_disjoint and not by_speaker:
                msg = (
                    f"{lang}: {len(speakers)} known speakers (min_speakers={settings.min_speakers}"
                    f"{'' if complete else ', and some clips have none'}): split by clip, so val/test "
                    "share speakers with train"
                )
                stats["warnings"].append(msg)
                log.warning(msg)
            for path in by_lang[lang]:
                for batch in iter_batches(path, batch_rows):
                    stats["clips_in"] += batch.num_rows
                    norm, split, excluded = assign_splits(batch, lang, by_speaker, settings)
                    stats["excluded"].update(excluded)
                    table = pa.Table.from_batches([batch]).append_column("text_norm", norm.cast(pa.string()))
                    for i, s in enumerate(SPLITS):
                        part = table.filter(pa.array(split == i))
                        if part.num_rows == 0:
                            continue
                        part = part.append_column("split", pa.repeat(s, part.num_rows)).cast(SPLIT_SCHEMA)
                        writers[s].write_table(part)
                        write_lines(nemo_lines(part), jsonl[s])
                        st = stats[s]
                        st["clips"] += part.num_rows
                        st["hours"] += (pc.sum(part.column("duration_s")).as_py() or 0.0) / 3600
                        st["speakers"].update(
                            x for x in pc.unique(part.column("speaker_id")).to_pylist() if x is not None
                        )
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
