"""A related species as a reference scorer for the gene benchmark: is the base conserved?

Sites that evolution keeps the same across related species are the ones that matter, and
aligning several species is how phyloP-style conservation scores and GPN-MSA (Benegas et al.
2025, Nat. Biotechnol., "A DNA language model based on multispecies alignment predicts the
effects of genome-wide variants") get their missense signal. This module gives the gene
benchmark the smallest such reference, one related genome:

* each benchmark gene's best homolog among the complete Prodigal genes of the relative: a short
  list by shared protein 4-mers, then a local protein alignment (BLOSUM62, gap open -11, extend
  -1; Biopython's ``PairwiseAligner``), kept at >= 30% identity over >= half of the gene;
* its codons aligned through the protein alignment, base by base;
* the score of an SNV reads the relative's aligned base only:
  ``[relative base == ALT] - [relative base == REF]`` (1 = the relative already carries the ALT
  base, -1 = it conserves the REF base, 0 = neither, or nothing aligned). Lower = more damaging,
  like an LLR. The genetic code is not used in the score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import COMPLEMENT_IDS, N_ID
from genomamba.downstream.genes.consequences import (
    Gene,
    call_genes,
    coding_base_codes,
    genome_codes,
    snv_coding_sequences,
    translate,
)
from genomamba.errors import ConfigError

__all__ = ["MIN_COVERAGE", "MIN_IDENTITY", "ProteinIndex", "aligned_relative_track", "check_nucleotide_genome",
           "relative_species_llr", "relative_species_scores"]

PROTEIN_K = 4  # shared protein k-mers that short-list the candidates
N_CANDIDATES = 5  # candidates aligned per gene
MIN_IDENTITY = 0.3  # of the aligned residue pairs
MIN_COVERAGE = 0.5  # aligned residue pairs / query length
# A genome's DNA is nearly all A, C, G, T (and N); a protein FASTA read as DNA has about 30% of
# those letters (the amino acids A, C, G, T), so 90% tells the two apart with a wide margin.
MIN_NUCLEOTIDE_FRACTION = 0.9
_NUCLEOTIDE_SAMPLE_BP = 200_000


def check_nucleotide_genome(genome: GenomeFile, option: str) -> None:
    """ConfigError naming ``option`` and the file unless ``genome`` reads as DNA: at least
    :data:`MIN_NUCLEOTIDE_FRACTION` of its first 200 kb are A, C, G, T, U or N (a protein FASTA
    would give an all-N alignment without a word)."""
    letters, dna = 0, 0
    for contig, length in genome.lengths.items():
        seq = genome.fetch(contig, 0, min(length, _NUCLEOTIDE_SAMPLE_BP - letters)).upper()
        letters += len(seq)
        dna += sum(seq.count(b) for b in "ACGTUN")
        if letters >= _NUCLEOTIDE_SAMPLE_BP:
            break
    if letters and dna / letters < MIN_NUCLEOTIDE_FRACTION:
        raise ConfigError(
            f"{option} {genome.path}: not a nucleotide FASTA: only {dna / letters:.0%} of its first {letters:,} letters are "
            "A, C, G, T or N (a protein FASTA has about 30%); give the genome's DNA sequence"
        )


class ProteinIndex:
    """The proteins of a relative's genes, searchable for the best homolog of a query protein."""

    def __init__(self, proteins: Sequence[str]) -> None:
        from Bio.Align import PairwiseAligner, substitution_matrices

        self.proteins = list(proteins)
        self._kmers: dict[str, list[int]] = {}
        for j, protein in enumerate(self.proteins):
            for kmer in {protein[i : i + PROTEIN_K] for i in range(len(protein) - PROTEIN_K + 1)}:
                self._kmers.setdefault(kmer, []).append(j)
        self._aligner = PairwiseAligner(mode="local", substitution_matrix=substitution_matrices.load("BLOSUM62"),
                                        open_gap_score=-11, extend_gap_score=-1)

    def best_homolog(self, query: str) -> tuple[int, dict[int, int]] | None:
        """``(index of the relative protein, {query residue: relative residue})`` for the aligned
        pairs of the best local alignment among the short list, or None when nothing shares a
        4-mer or the best alignment is under :data:`MIN_IDENTITY` / :data:`MIN_COVERAGE`. When the
        last residues of both align, so do the stop codons after them (``len(query)`` ->
        ``len(relative protein)``)."""
        shared = Counter(j for i in range(len(query) - PROTEIN_K + 1)
                         for j in set(self._kmers.get(query[i : i + PROTEIN_K], ())))
        if not shared:
            return None
        candidates = [j for j, _ in shared.most_common(N_CANDIDATES)]
        best = max(candidates, key=lambda j: self._aligner.score(query, self.proteins[j]))
        alignment = self._aligner.align(query, self.proteins[best])[0]
        pairs = {int(q): int(r) for (q0, q1), (r0, r1) in zip(*alignment.aligned, strict=True)
                 for q, r in zip(range(q0, q1), range(r0, r1), strict=True)}
        identity = sum(query[q] == self.proteins[best][r] for q, r in pairs.items()) / max(len(pairs), 1)
        if identity < MIN_IDENTITY or len(pairs) < MIN_COVERAGE * len(query):
            return None
        if pairs.get(len(query) - 1) == len(self.proteins[best]) - 1:
            pairs[len(query)] = len(self.proteins[best])  # aligned to both ends: the stop codons align too
        return best, pairs


def _complete_coding_sequences(relative: GenomeFile, progress: bool = True) -> list[np.ndarray]:
    """Coding-strand codes of every complete Prodigal gene of ``relative``."""
    codes = genome_codes(relative)
    return [coding_base_codes(g, codes[g.chrom]) for g in call_genes(relative, progress=progress) if not g.partial]


def relative_species_scores(
    sites: Sequence[tuple[np.ndarray, np.ndarray, int] | None], relative_cds: Sequence[np.ndarray]
) -> tuple[np.ndarray, dict[str, int]]:
    """The module's score for SNVs given as coding sequences.

    Args:
        sites: per SNV ``(REF coding sequence, ALT coding sequence, coding index)``
            (:func:`~genomamba.downstream.genes.consequences.snv_coding_sequences`), None if intergenic.
        relative_cds: coding-strand codes of the relative's genes.

    Returns:
        (scores (N,): NaN for intergenic SNVs, 0 where no base is aligned; counts of genes, genes
        with a homolog, coding SNVs and SNVs with an aligned base).
    """
    index = ProteinIndex([translate(c) for c in relative_cds])
    homologs: dict[bytes, tuple[int, dict[int, int]] | None] = {}  # one search per gene
    scores = np.full(len(sites), np.nan)
    aligned = 0
    for n, site in enumerate(sites):
        if site is None:
            continue
        ref_cds, alt_cds, i = site
        key = ref_cds.tobytes()
        if key not in homologs:
            homologs[key] = index.best_homolog(translate(ref_cds))
        scores[n] = 0.0
        hit = homologs[key]
        if hit is None or i // 3 not in hit[1]:
            continue
        j, pairs = hit
        base = relative_cds[j][3 * pairs[i // 3] + i % 3]
        scores[n] = float(base == alt_cds[i]) - float(base == ref_cds[i])
        aligned += 1
    counts = {"genes": len(homologs), "genes_with_homolog": sum(h is not None for h in homologs.values()),
              "coding_snvs": int(sum(s is not None for s in sites)), "snvs_with_aligned_base": aligned}
    return scores, counts


def relative_species_llr(
    genome: GenomeFile, labels: list[dict[str, Any]], relative: GenomeFile, genes: Sequence[Gene] | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """:func:`relative_species_scores` of every gene-benchmark SNV of ``genome`` against the
    complete genes of ``relative``. ``genes``: the genome's own gene calls, if already made."""
    genes = call_genes(genome) if genes is None else genes
    sites = snv_coding_sequences(labels, {g.id: g for g in genes}, genome_codes(genome))
    return relative_species_scores(sites, _complete_coding_sequences(relative))


def aligned_relative_track(
    genome: GenomeFile, relative: GenomeFile, progress: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The relative's aligned base at every position of ``genome``: ``{record: (n,) int64}`` codes
    A,C,G,T = 0..3 as read on the genome's plus strand, 4 where nothing is aligned (intergenic
    DNA, genes without a homolog, codons outside the alignment). Every complete gene of
    ``genome`` is aligned to its best homolog in ``relative`` as for :func:`relative_species_scores`
    (stop codons included when both proteins end together); counts of genes and aligned bases.
    ``progress``: progress bars for the gene calls and the alignments (only when stderr is a terminal)."""
    from genomamba.progress import progress as progress_bar

    seq_ids = genome_codes(genome)
    relative_cds = _complete_coding_sequences(relative, progress)
    index = ProteinIndex([translate(c) for c in relative_cds])
    track = {c: np.full(len(s), N_ID, dtype=np.int64) for c, s in seq_ids.items()}
    genes = [g for g in call_genes(genome, progress=progress) if not g.partial]
    n_homologs = 0
    with progress_bar(len(genes), f"aligning genes to {relative.path.name}", "genes", progress) as advance:
        for gene in genes:
            advance(1)
            n_homologs += _align_gene(gene, seq_ids, index, relative_cds, track)
    counts = {"genes": len(genes), "genes_with_homolog": n_homologs,
              "aligned_bases": int(sum((t < N_ID).sum() for t in track.values()))}
    return track, counts


def _align_gene(
    gene: Gene, seq_ids: dict[str, np.ndarray], index: ProteinIndex, relative_cds: Sequence[np.ndarray],
    track: dict[str, np.ndarray],
) -> int:
    """Write the relative's bases aligned to ``gene`` into ``track``; 1 if it has a homolog, else 0."""
    hit = index.best_homolog(translate(coding_base_codes(gene, seq_ids[gene.chrom])))
    if hit is None:
        return 0
    j, pairs = hit
    q = np.array(sorted(pairs), dtype=np.int64)
    r = np.array([pairs[i] for i in q], dtype=np.int64)
    coding = (3 * q[:, None] + np.arange(3)).reshape(-1)  # the query's coding indices, codon by codon
    bases = relative_cds[j][(3 * r[:, None] + np.arange(3)).reshape(-1)]
    if gene.strand < 0:  # a coding-strand base reads as its complement on the plus strand
        bases = COMPLEMENT_IDS[bases]  # the codes are the token ids A, C, G, T, N
    track[gene.chrom][gene.genomic_position(coding)] = bases
    return 1
