"""Downstream tasks on frozen or fine-tuned genomamba models, one subpackage per task:
:mod:`.species` (species classification: linear probe, k-mer baseline, fine-tuning),
:mod:`.variants` (zero-shot and supervised variant-effect prediction from VCF) and :mod:`.genes`
(the gene-based SNV benchmark). Shared by all: :mod:`.stats` (confidence intervals, paired
comparisons), :mod:`.kmer` (k-mer features) and :mod:`.finetune` (the ``genomamba finetune`` tasks).

Names are imported on first use, so a command that imports one light module of a task (to check
its arguments before the heavy imports) does not pull in torch, Lightning or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genomamba.downstream.kmer import kmer_baseline, kmer_frequencies
    from genomamba.downstream.species.genomes import SpeciesGenome, draw_windows, split_genomes
    from genomamba.downstream.species.probe import probe
    from genomamba.downstream.variants.scoring import score_variants
    from genomamba.downstream.variants.supervised import finetune_variant_effect
    from genomamba.downstream.variants.vcf import read_vcf

_HOME = {
    "SpeciesGenome": "species.genomes",
    "draw_windows": "species.genomes",
    "finetune_variant_effect": "variants.supervised",
    "kmer_baseline": "kmer",
    "kmer_frequencies": "kmer",
    "probe": "species.probe",
    "read_vcf": "variants.vcf",
    "score_variants": "variants.scoring",
    "split_genomes": "species.genomes",
}

__all__ = [
    "SpeciesGenome",
    "draw_windows",
    "finetune_variant_effect",
    "kmer_baseline",
    "kmer_frequencies",
    "probe",
    "read_vcf",
    "score_variants",
    "split_genomes",
]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"genomamba.downstream.{_HOME[name]}"), name)
    raise AttributeError(f"module 'genomamba.downstream' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
