"""FASTA data pipeline: tokenizer, validated genomes, intervals/splits, window datasets, DataModule."""

from genomamba.data.datamodule import GenomeDataModule
from genomamba.data.fasta import GenomeFile, cache_dir, open_fasta, open_genomes, validate_fasta
from genomamba.data.intervals import (
    BedError,
    Interval,
    read_bed,
    split_by_contig,
    split_by_region,
    split_intervals,
)
from genomamba.data.tokenizer import COMPLEMENT_IDS, DNATokenizer, reverse_complement_str
from genomamba.data.windows import (
    EpochKeySampler,
    RandomWindowDataset,
    TilingWindowDataset,
    collate_windows,
    fetch_window,
)

__all__ = [
    "COMPLEMENT_IDS",
    "BedError",
    "DNATokenizer",
    "EpochKeySampler",
    "GenomeDataModule",
    "GenomeFile",
    "Interval",
    "RandomWindowDataset",
    "TilingWindowDataset",
    "cache_dir",
    "collate_windows",
    "fetch_window",
    "open_fasta",
    "open_genomes",
    "read_bed",
    "reverse_complement_str",
    "split_by_contig",
    "split_by_region",
    "split_intervals",
    "validate_fasta",
]
