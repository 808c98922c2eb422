"""Downstream tasks on frozen or fine-tuned genomamba models, one subpackage per task:
:mod:`.species` (species classification: linear probe, k-mer baseline, fine-tuning),
:mod:`.variants` (zero-shot and supervised variant-effect prediction from VCF) and :mod:`.genes`
(the gene-based SNV benchmark). Shared by all: :mod:`.stats` (confidence intervals, paired
comparisons), :mod:`.kmer` (k-mer features) and :mod:`.finetune` (the ``genomamba finetune`` tasks).

Names are imported on first use, so that reading a VCF or a labels TSV (as a Snakemake workflow
does while it checks its config) does not pull in torch, scikit-learn and Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "kmer_baseline": "kmer",
    "kmer_frequencies": "kmer",
    "SpeciesGenome": "species.genomes",
    "draw_windows": "species.genomes",
    "split_genomes": "species.genomes",
    "probe": "species.probe",
    "score_variants": "variants.scoring",
    "finetune_variant_effect": "variants.supervised",
    "read_vcf": "variants.vcf",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"genomamba.downstream.{_HOME[name]}"), name)
    raise AttributeError(f"module 'genomamba.downstream' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
