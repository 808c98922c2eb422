"""The related-species conservation reference and the coding sequences of benchmark SNVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genomamba.downstream.genes.consequences import Gene, encode_bases, snv_coding_sequences, translate
from genomamba.downstream.genes.homologs import ProteinIndex, relative_species_scores
from genomamba.errors import ConfigError


def _codes(dna: str) -> np.ndarray:
    return encode_bases(dna)


def test_translate_stops_at_the_first_stop_codon() -> None:
    assert translate(_codes("ATGAAATTTGGGTAAGGG")) == "MKFG"
    assert translate(_codes("GTGAAA")) == "VK"  # an alternative start reads as its amino acid
    assert translate(_codes("ATGANA")) == "M"  # a codon with N ends it too


def test_snv_coding_sequences_read_minus_strand_genes_on_their_coding_strand() -> None:
    """A minus-strand gene on record positions [3, 12): its coding strand is the reverse
    complement, so VCF position 11 (REF C) is coding index 1 (G), codon 1 position 2."""
    seq = _codes("AAATTAGCACCATTT")  # [3, 12) = TTAGCACCA -> coding strand TGGTGCTAA
    gene = Gene("g", "chr", 3, 12, -1)
    row = {"id": "v1", "chrom": "chr", "pos": 11, "gene_id": "g", "codon_index": "1", "codon_position": "2",
           "ref": "C", "alt": "T"}
    [(ref, alt, site)] = snv_coding_sequences([row], {"g": gene}, {"chr": seq})
    assert site == 1
    assert "".join("ACGT"[b] for b in ref) == "TGGTGCTAA"
    assert "".join("ACGT"[b] for b in alt) == "TAGTGCTAA"  # C>T on the plus strand = G>A here
    assert snv_coding_sequences([{"gene_id": "."}], {}, {}) == [None]
    with pytest.raises(ConfigError, match="v1.*REF A at chr:11"):
        snv_coding_sequences([{**row, "ref": "A", "alt": "G"}], {"g": gene}, {"chr": seq})
    with pytest.raises(ConfigError, match="gene h is not among"):
        snv_coding_sequences([{**row, "gene_id": "h"}], {"g": gene}, {"chr": seq})


def test_homolog_search_finds_the_related_protein_and_maps_residues_across_a_gap() -> None:
    """Two unrelated proteins and a homolog with one residue deleted: the homolog is picked,
    residues before the gap map to themselves and those after it shift by one."""
    rng = np.random.default_rng(1)
    aa = list("ACDEFGHIKLMNPQRSTVWY")
    query = "M" + "".join(rng.choice(aa, 80))
    homolog = query[:40] + query[41:]  # residue 40 deleted
    decoys = ["M" + "".join(rng.choice(aa, 80)) for _ in range(2)]
    best, pairs = ProteinIndex([decoys[0], homolog, decoys[1]]).best_homolog(query)
    assert best == 1
    assert pairs[10] == 10 and pairs[60] == 59 and 40 not in pairs
    assert ProteinIndex(["WWWW"]).best_homolog(query) is None  # no shared 4-mer
    # an unrelated protein that shares its first 4-mer: the best alignment covers under half the query
    unrelated = query[:4] + "".join(rng.choice(aa, 77))
    assert ProteinIndex([unrelated]).best_homolog(query) is None


def test_relative_species_score_reads_the_aligned_base_only() -> None:
    """A 5-codon gene and a relative with the same protein but other third positions: an SNV
    to the relative's base scores +1, one away from a base both share -1, and an SNV in a codon
    the relative lacks 0."""
    gene = _codes("ATGAAATTTGGGCCCTAA")  # M K F G P *
    relative = _codes("ATGAAGTTCGGATAA")  # M K F G * (other third positions, no P)

    def site(i: int, alt: str) -> tuple[np.ndarray, np.ndarray, int]:
        alt_cds = gene.copy()
        alt_cds[i] = "ACGT".index(alt)
        return gene, alt_cds, i

    sites = [site(5, "G"), site(3, "C"), site(8, "C"), site(12, "A"), None]
    scores, counts = relative_species_scores(sites, [relative])
    # K: AAA vs AAG, A>G at index 5 is the relative's base; index 3 (A, shared) changed.
    # F: TTT vs TTC, T>C at index 8 is the relative's base. Index 12 (P) has no aligned codon.
    assert scores[:4].tolist() == [1.0, -1.0, 1.0, 0.0]
    # the stop codons align only where both proteins end together: here the relative lacks P
    stop = site(16, "G")  # TAA -> TGA, another stop: the relative has no base aligned there
    assert relative_species_scores([stop], [relative])[0].tolist() == [0.0]
    same_end, _ = relative_species_scores([stop], [gene])  # the relative is the gene itself
    assert same_end.tolist() == [-1.0]
    assert np.isnan(scores[4])
    assert counts == {"genes": 1, "genes_with_homolog": 1, "coding_snvs": 4, "snvs_with_aligned_base": 3}


def test_aligned_relative_track_puts_the_relatives_bases_on_the_plus_strand(tmp_path) -> None:
    """The genome's slice as its own "relative" with one planted synonymous change in a plus-
    and one in a minus-strand gene: the track equals the genome on every aligned base except the
    two planted ones, which read as the relative's bases on the plus strand; N elsewhere."""
    from genomamba.data.fasta import GenomeFile
    from genomamba.downstream.genes.consequences import call_genes, coding_base_codes, encode_bases
    from genomamba.downstream.genes.homologs import aligned_relative_track

    repo = Path(__file__).resolve().parents[2]
    ecoli = GenomeFile(repo / "data" / "genomes" / "escherichia_coli_536.fa.gz")
    seq = ecoli.fetch(next(iter(ecoli.lengths)), 1_000_000, 1_030_000).upper()
    genome_fa = tmp_path / "g.fa"
    genome_fa.write_text(">g\n" + seq + "\n")
    genome = GenomeFile(genome_fa)
    genes = [g for g in call_genes(genome) if not g.partial]
    plus = next(g for g in genes if g.strand > 0)
    minus = next(g for g in genes if g.strand < 0)
    codes = encode_bases(seq)
    planted = {}
    for gene in (plus, minus):
        cds = coding_base_codes(gene, codes)
        for c in range(5, gene.n_codons - 1):  # a third position whose change keeps the amino acid
            alt = cds.copy()
            alt[3 * c + 2] = (cds[3 * c + 2] + 2) % 4  # A<->G, C<->T: a transition
            if translate(alt) == translate(cds):
                planted[int(gene.genomic_position(np.array([3 * c + 2]))[0])] = None
                break
    rel = list(seq)
    for pos in planted:
        rel[pos] = {"A": "G", "G": "A", "C": "T", "T": "C"}[seq[pos]]
    relative_fa = tmp_path / "r.fa"
    relative_fa.write_text(">r\n" + "".join(rel) + "\n")
    track, counts = aligned_relative_track(genome, GenomeFile(relative_fa))
    t = track["g"]
    assert len(planted) == 2 and counts["genes_with_homolog"] == counts["genes"] == len(genes)
    aligned = t < 4
    assert counts["aligned_bases"] == aligned.sum() > 0.5 * len(seq)
    for pos in planted:
        assert t[pos] == "ACGT".index(rel[pos]) != codes[pos]
    others = aligned.copy()
    others[list(planted)] = False
    assert (t[others] == codes[others]).all()
    in_gene = np.zeros(len(seq), bool)
    for g in genes:
        in_gene[g.start : g.end] = True
    assert not aligned[~in_gene].any()  # nothing outside genes
