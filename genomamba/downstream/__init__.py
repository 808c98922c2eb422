"""Downstream tasks on frozen or fine-tuned genomamba models: species classification
(linear probe, k-mer baseline, fine-tuning) and variant-effect prediction.

Heavy submodules (Lightning fine-tuning, scikit-learn for the supervised variant head) are
imported on first use.
"""

from genomamba.downstream.kmer import kmer_baseline, kmer_frequencies
from genomamba.downstream.probe import probe
from genomamba.downstream.species import SpeciesGenome, draw_windows, split_genomes
from genomamba.downstream.variants import score_variants
from genomamba.downstream.variants_supervised import finetune_variant_effect
from genomamba.downstream.vcf import read_vcf

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
