"""Downstream tasks on frozen or fine-tuned genomamba models: species classification
(linear probe, k-mer baseline, fine-tuning).

Heavy submodules (Lightning fine-tuning) are imported on first use.
"""

from genomamba.downstream.kmer import kmer_baseline, kmer_frequencies
from genomamba.downstream.probe import probe
from genomamba.downstream.species import SpeciesGenome, draw_windows, split_genomes

__all__ = ["SpeciesGenome", "draw_windows", "kmer_baseline", "kmer_frequencies", "probe", "split_genomes"]
