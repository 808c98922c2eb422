"""FASTA data pipeline: tokenizer, validated genomes, intervals/splits, window datasets, DataModule.

Names are imported on first use, so ``import genomamba.data.fasta`` (e.g. to validate a FASTA
while a Snakemake workflow reads its config) does not pull in torch and Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "GenomeDataModule": "datamodule",
    "GenomeFile": "fasta",
    "cache_dir": "fasta",
    "open_fasta": "fasta",
    "open_genomes": "fasta",
    "validate_fasta": "fasta",
    "BedError": "intervals",
    "Interval": "intervals",
    "read_bed": "intervals",
    "split_by_contig": "intervals",
    "split_by_region": "intervals",
    "split_intervals": "intervals",
    "COMPLEMENT_IDS": "tokenizer",
    "DNATokenizer": "tokenizer",
    "reverse_complement_str": "tokenizer",
    "EpochKeySampler": "batching",
    "RandomWindowDataset": "windows",
    "TilingWindowDataset": "windows",
    "collate_windows": "batching",
    "fetch_window": "windows",
    "ContigNames": "contigs",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"genomamba.data.{_HOME[name]}"), name)
    raise AttributeError(f"module 'genomamba.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
