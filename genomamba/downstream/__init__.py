"""Downstream tasks on frozen or fine-tuned genomamba models, one subpackage per task:
:mod:`.species` (species classification: linear probe, k-mer baseline, fine-tuning),
:mod:`.variants` (zero-shot and supervised variant-effect prediction from VCF) and :mod:`.genes`
(the gene-based SNV benchmark). Shared by all: :mod:`.stats` (confidence intervals, paired
comparisons), :mod:`.kmer` (k-mer features) and :mod:`.finetune` (the ``genomamba finetune`` tasks).

Heavy submodules (Lightning fine-tuning, scikit-learn for the supervised variant head) are
imported on first use.
"""

from genomamba.downstream.kmer import kmer_baseline, kmer_frequencies
from genomamba.downstream.species.genomes import SpeciesGenome, draw_windows, split_genomes
from genomamba.downstream.species.probe import probe
from genomamba.downstream.variants.scoring import score_variants
from genomamba.downstream.variants.supervised import finetune_variant_effect
from genomamba.downstream.variants.vcf import read_vcf

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
