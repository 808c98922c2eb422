"""k-mer frequencies (``genomamba.downstream.kmer_frequencies``) of the windows of both BED files."""

import logging
import sys

import numpy as np

from genomamba.data import DNATokenizer, GenomeFile
from genomamba.downstream import kmer_frequencies

smk = snakemake  # noqa: F821  (injected by Snakemake's script: directive)
sys.stderr = open(smk.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")

tokenizer = DNATokenizer()
genomes = {}
out = {}
for which in ("train", "test"):
    ids, species = [], []
    with open(smk.input[which]) as fh:
        for line in fh:
            contig, start, end, _, _, _, sp, fasta = line.rstrip("\n").split("\t")
            genome = genomes.setdefault(fasta, GenomeFile(fasta))
            ids.append(tokenizer.encode(genome.fetch(contig, int(start), int(end))))
            species.append(sp)
    out[f"X_{which}"] = kmer_frequencies(np.stack(ids), k=smk.params.k)
    out[f"species_{which}"] = np.asarray(species)
    logging.info("%s: %d windows, %d k-mer features (k=%d)", which, len(ids), out[f"X_{which}"].shape[1], smk.params.k)
np.savez(smk.output[0], **out)
