"""Corpus formats. Add one by writing a module with a :class:`base.CorpusAdapter` and listing it here
(and in the config schema's ``format`` enum)."""

from maya.adapters.base import CorpusAdapter, Problem, RawClip, ShardScan
from maya.adapters.benchmarks import CommonVoice, Fleurs, HFParquet, Kathbath
from maya.adapters.final_export import FinalExport
from maya.adapters.ljspeech import LJSpeech
from maya.adapters.nemo_manifest import NemoManifest

FORMATS = {
    "final_export": FinalExport,
    "ljspeech": LJSpeech,
    "nemo_manifest": NemoManifest,
    "fleurs": Fleurs,
    "common_voice": CommonVoice,
    "kathbath": Kathbath,
    "hf_parquet": HFParquet,
}


def adapter_for(fmt: str) -> CorpusAdapter:
    try:
        return FORMATS[fmt]()
    except KeyError:
        raise ValueError(f"unknown corpus format {fmt!r}; known: {', '.join(FORMATS)}") from None


__all__ = ["FORMATS", "adapter_for", "CorpusAdapter", "Problem", "RawClip", "ShardScan"]
