"""Maya ASR: the library behind the Snakemake workflow (all real logic lives here)."""

__version__ = "0.1.0"
