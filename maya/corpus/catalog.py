"""Which shards a configured corpus has: one answer for the Snakefile (at DAG time) and for the
list_shards step that records it, so the two can never disagree.

Synthesised corpora are known from config; corpora on disk are listed by their format's adapter
(for the shard layout, one directory scan per language, cheap even at 3,551 shards). No Snakemake
checkpoint is involved: with several checkpoints and jobs in flight, Snakemake 9's DAG update can
drop pending jobs and exit 0 with targets unbuilt (seen here; see snakemake issues #823, #2524).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from maya.adapters import adapter_for
from maya.corpus.broken import KINDS as BROKEN_KINDS
from maya.corpus.demo import shard_name
from maya.corpus.listing import scan_shard_dirs


def corpus_shards(
    corpus: Mapping[str, Any], languages: Sequence[str], shards_per_language: int
) -> list[tuple[str, str]]:
    """(lang, shard_id) of ``corpus`` for ``languages``, sorted."""
    synth = corpus.get("synthesise")
    if synth == "demo":
        return sorted((lang, shard_name(i)) for lang in languages for i in range(shards_per_language))
    if synth == "broken":
        return sorted((lang, kind) for lang in languages for kind in BROKEN_KINDS)
    return adapter_for(corpus["format"]).discover(corpus["root"], languages)


def skipped_shards(corpus: Mapping[str, Any], languages: Sequence[str]) -> list[dict]:
    """Shard directories of an on-disk ``final_export`` corpus that cannot be carried as shard ids
    (braces, invalid UTF-8, control characters, ...): {language, directory, reason} each."""
    if corpus.get("synthesise") or corpus["format"] != "final_export":
        return []
    return scan_shard_dirs(corpus["root"], languages)[1]
