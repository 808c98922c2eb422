"""Gene-based variant benchmark: labels against hand-translated real genes, determinism, regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from Bio.Seq import Seq

from genomamba.apps.cli import main as cli_main
from genomamba.data.fasta import GenomeFile
from genomamba.downstream.genes.benchmark import (
    make_gene_benchmark,
    parse_regions,
    read_benchmark_labels,
    read_benchmark_regions,
)
from genomamba.downstream.genes.consequences import (
    Gene,
    call_genes,
    classify_snv,
    codon_code,
    codon_counts,
    encode_bases,
)
from genomamba.downstream.variants.vcf import read_vcf, validate_variants
from genomamba.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
ECOLI = REPO / "data" / "genomes" / "escherichia_coli_536.fa.gz"
CHROM = "gi|110640213|ref|NC_008253.1|"

# Two real Prodigal genes in E. coli 536's held-out last 5%, codons written out by hand from the
# coding strand (0-based half-open genomic coordinates).
FWD_GENE = Gene("fwd", CHROM, 4744531, 4744693, +1)
FWD_CODONS = (
    "ATG GCT CTG CTC TGG AAC CAG GCC GCA GGA AGC ATC AAT CTG GAG TTT ATC AGC TAC TGG AAT TCC GGT GTA TTG GCA GCC "
    "CCT GAT AAT CAC CTG ACC CAC GAA GAG CGC TCT GCT TTG CAG AAA CTC TGG GGC GGT TTG GAG GCA GGA GAT GCC ATT TAA"
)
REV_GENE = Gene("rev", CHROM, 4743387, 4743756, -1)
REV_CODONS = (
    "ATG TCA GCA CAA GAA AAA ACA GTA CAG ATT GAT TCT TTT GAT GCG AAA TTT TTA GAT ATA AAT ACA TTA AGC AGG CTT ATT "
    "TAT GAA CGT AAG AGT TTT GTG ATC GAA AAT GTT TCC GAT GTT AGT GAA ACG GTA AAA AGA GTG GAG CAT GAA ATA GAG AAA "
    "ACG AAA TTA AGT TGT CGT GTA TAT ACT GAG TAC AGG AGT ACA GCT TTA GCT GGT TCT TTA TGG TCA CCA ACC GTA ATT CTG "
    "GGA GTG GCG AGT GCA GTA GCA ATA GGT GTT CAT AAT TTA TCT ACA TGG AAC CCC GAT TAT GAA ATC GGT AAG AAC TAT ATT "
    "AAA CGG AGA TTA TCG GTA AAA TAT AAA AAG GCA GAA GTA TTG TGA"
)

# (1-based genomic position, genomic REF, genomic ALT) -> expected (consequence, codon no., codon position,
# ref codon, alt codon, ref aa, alt aa), worked out by hand with table 11.
FWD_CASES = [
    ((4744532, "A", "G"), ("start_retained", 1, 1, "ATG", "GTG", "M", "V")),  # GTG is a table-11 start
    ((4744533, "T", "A"), ("start_lost", 1, 2, "ATG", "AAG", "M", "K")),
    ((4744537, "T", "A"), ("synonymous", 2, 3, "GCT", "GCA", "A", "A")),  # Ala GCN
    ((4744546, "G", "A"), ("nonsense", 5, 3, "TGG", "TGA", "W", "*")),
    ((4744547, "A", "G"), ("missense", 6, 1, "AAC", "GAC", "N", "D")),
    ((4744691, "T", "C"), ("stop_lost", 54, 1, "TAA", "CAA", "*", "Q")),
    ((4744692, "A", "G"), ("stop_retained", 54, 2, "TAA", "TGA", "*", "*")),
]
# Reverse strand: coding index j sits at genomic 1-based 4743756 - j, and the genomic bases are
# the complements of the coding ones.
REV_CASES = [
    ((4743756, "T", "C"), ("start_retained", 1, 1, "ATG", "GTG", "M", "V")),
    ((4743755, "A", "T"), ("start_lost", 1, 2, "ATG", "AAG", "M", "K")),
    ((4743751, "T", "C"), ("synonymous", 2, 3, "TCA", "TCG", "S", "S")),
    ((4743749, "G", "T"), ("missense", 3, 2, "GCA", "GAA", "A", "E")),
    ((4743747, "G", "A"), ("nonsense", 4, 1, "CAA", "TAA", "Q", "*")),
    ((4743390, "A", "G"), ("stop_lost", 123, 1, "TGA", "CGA", "*", "R")),
    ((4743389, "C", "T"), ("stop_retained", 123, 2, "TGA", "TAA", "*", "*")),
]


@pytest.fixture(scope="module")
def ecoli() -> GenomeFile:
    return GenomeFile(ECOLI)


@pytest.fixture(scope="module")
def slice_fasta(tmp_path_factory) -> Path:
    """40 kb of E. coli 536 (genomic 4,715,001-4,755,000) holding both hand-written genes."""
    g = GenomeFile(ECOLI)
    path = tmp_path_factory.mktemp("gb") / "slice.fa"
    seq = g.fetch(CHROM, 4_715_000, 4_755_000)
    path.write_text(">slice\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    return path


@pytest.mark.parametrize(("gene", "codons", "cases"), [(FWD_GENE, FWD_CODONS, FWD_CASES), (REV_GENE, REV_CODONS, REV_CASES)],
                         ids=["forward", "reverse"])
def test_labels_match_hand_translated_gene(ecoli, gene, codons, cases):
    seq = ecoli.fetch(CHROM, gene.start, gene.end)
    coding = seq if gene.strand > 0 else str(Seq(seq).reverse_complement())
    assert coding == codons.replace(" ", "")
    window = ecoli.fetch(CHROM, 0, gene.end + 10)
    for (pos, ref, alt), (csq, codon_no, cpos, rc, ac, raa, aaa) in cases:
        assert window[pos - 1] == ref, f"test case {pos}: genome has {window[pos - 1]}"
        got = classify_snv(gene, window, pos, alt)
        assert (got["consequence"], got["codon_index"], got["codon_position"]) == (csq, codon_no, cpos), (pos, got)
        assert (got["ref_codon"], got["alt_codon"], got["ref_aa"], got["alt_aa"]) == (rc, ac, raa, aaa), (pos, got)
    # the same interior SNV is flagged as near an end once the margin covers its codon
    (pos, _, alt), (csq, codon_no, *_) = cases[2]
    assert classify_snv(gene, window, pos, alt, end_margin=codon_no)["consequence"] == f"{csq}_near_end"


def test_codon_counts_match_the_hand_written_codons(ecoli):
    """Codon usage of the two genes (one per strand) equals a count of the codons written out by hand."""
    seq_ids = {CHROM: encode_bases(ecoli.fetch(CHROM, 0, FWD_GENE.end + 10).upper())}
    counts = codon_counts([FWD_GENE, REV_GENE], seq_ids)
    words = (FWD_CODONS + " " + REV_CODONS).split()
    assert counts.sum() == len(words) == 54 + 123
    for codon in set(words):
        assert counts[codon_code(codon)] == words.count(codon), codon
    assert counts[codon_code("ATG")] == words.count("ATG") >= 2 and counts[codon_code("CCC")] == words.count("CCC")
    with pytest.raises(ConfigError, match="not three of A, C, G, T"):
        codon_code("ANG")


def test_prodigal_finds_the_hand_written_genes(slice_fasta):
    genes = {(g.start, g.end, g.strand) for g in call_genes(GenomeFile(slice_fasta)) if not g.partial}
    off = 4_715_000
    assert (FWD_GENE.start - off, FWD_GENE.end - off, 1) in genes
    assert (REV_GENE.start - off, REV_GENE.end - off, -1) in genes


def _translate_check(rows, genome: GenomeFile) -> None:
    """Every coding row agrees with a Biopython translation of the whole gene, REF and ALT."""
    for r in rows:
        if r["consequence"] == "intergenic":
            continue
        s, e = int(r["gene_start"]) - 1, int(r["gene_end"])
        ref_seq = genome.fetch(r["chrom"], s, e).upper()
        p = r["pos"] - 1 - s
        assert ref_seq[p] == r["ref"]
        alt_seq = ref_seq[:p] + r["alt"] + ref_seq[p + 1 :]
        if r["strand"] == "-":
            ref_seq, alt_seq = str(Seq(ref_seq).reverse_complement()), str(Seq(alt_seq).reverse_complement())
        ref_aa, alt_aa = str(Seq(ref_seq).translate(table=11)), str(Seq(alt_seq).translate(table=11))
        ci = int(r["codon_index"]) - 1
        assert (ref_aa[ci], alt_aa[ci]) == (r["ref_aa"], r["alt_aa"])
        expected = {
            "synonymous": alt_aa == ref_aa, "missense": alt_aa[ci] not in (ref_aa[ci], "*") and ref_aa[ci] != "*",
            "nonsense": alt_aa[ci] == "*" and ref_aa[ci] != "*" and ci < len(ref_aa) - 1,
            "stop_lost": ci == len(ref_aa) - 1 and alt_aa[ci] != "*",
            "start_lost": ci == 0 and alt_seq[:3] not in ("ATG", "GTG", "TTG", "CTG", "ATT", "ATC", "ATA"),
        }[r["consequence"]]
        assert expected, r


def test_benchmark_is_deterministic_labelled_and_region_restricted(slice_fasta):
    genome = GenomeFile(slice_fasta)
    region = parse_regions(["slice:10001-30000"], genome.lengths)
    kw = dict(n_per_class=15, n_uniform_coding=40, end_margin=5)
    rows, summary = make_gene_benchmark(genome, region, seed=3, **kw)
    again, _ = make_gene_benchmark(genome, region, seed=3, **kw)
    other, _ = make_gene_benchmark(genome, region, seed=4, **kw)
    assert rows == again
    assert [(r["pos"], r["alt"]) for r in rows] != [(r["pos"], r["alt"]) for r in other]
    assert all(10_001 <= r["pos"] <= 30_000 for r in rows)
    coding = [r for r in rows if r["consequence"] != "intergenic"]
    assert all(10_001 <= int(r["gene_start"]) and int(r["gene_end"]) <= 30_000 for r in coding)
    counts = {c: sum(r["consequence"] == c and r["sample"] == "stratified" for r in rows)
              for c in ("synonymous", "missense", "nonsense", "start_lost", "stop_lost", "intergenic")}
    assert counts == dict.fromkeys(counts, 15), counts
    assert sum(r["sample"] == "uniform" for r in rows) == 40
    assert len({(r["pos"], r["alt"]) for r in rows}) == len(rows)  # the two samples never share an SNV
    # interior classes keep end_margin codons away from both ends
    for r in rows:
        if r["consequence"] in ("synonymous", "missense", "nonsense"):
            n_codons = (int(r["gene_end"]) - int(r["gene_start"]) + 1) // 3
            assert 5 < int(r["codon_index"]) - 1 < n_codons - 1 - 5
    assert {r["strand"] for r in coding} == {"+", "-"}
    _translate_check(rows, genome)
    # intergenic SNVs lie outside every called gene
    genes = call_genes(genome)
    for r in rows:
        if r["consequence"] == "intergenic":
            assert not any(g.start < r["pos"] <= g.end for g in genes)


def test_cli_writes_vcf_and_labels(slice_fasta, tmp_path):
    prefix = tmp_path / "bench"
    rc = cli_main(["make-variant-benchmark", "--fasta", str(slice_fasta), "--out-prefix", str(prefix),
                   "--last-fraction", "0.5", "--n-per-class", "5", "--n-uniform-coding", "10", "--seed", "1"])
    assert rc == 0
    vcf, tsv = Path(f"{prefix}.vcf"), Path(f"{prefix}.labels.tsv")
    assert read_benchmark_regions(vcf) == ["slice:20001-40000"]
    labels = read_benchmark_labels(tsv)
    variants = read_vcf(vcf)
    assert [(v.chrom, v.pos, v.ref, v.alt) for v in variants] == [(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in labels]
    assert all(v.status == "ok" for v in validate_variants(variants, GenomeFile(slice_fasta), masked=False))
    assert min(r["pos"] for r in labels) > 20_000
    assert {r["codon_position"] for r in labels if r["consequence"] == "synonymous"} <= {1, 2, 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.labels.tsv", "bench.vcf"]  # no temp leftovers


@pytest.mark.parametrize("region", ["slice:0-100", "slice:30-99999999", "chrZ:1-10", "slice:5"])
def test_bad_region_is_a_clear_error(slice_fasta, tmp_path, region, capsys):
    with pytest.raises(ConfigError, match="--region"):
        parse_regions([region], GenomeFile(slice_fasta).lengths)
    rc = cli_main(["make-variant-benchmark", "--fasta", str(slice_fasta), "--out-prefix", str(tmp_path / "b"),
                   "--region", region])
    assert rc == 2 and "--region" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_coverage_skips_overlapping_genes(slice_fasta):
    """No coding SNV sits where two called genes overlap (its consequence would be ambiguous)."""
    genome = GenomeFile(slice_fasta)
    genes = call_genes(genome)
    cover = np.zeros(genome.lengths["slice"] + 1, dtype=int)
    for g in genes:
        cover[g.start] += 1
        cover[g.end] -= 1
    cover = np.cumsum(cover)
    rows, _ = make_gene_benchmark(genome, None, n_per_class=30, n_uniform_coding=60, seed=0, end_margin=0)
    assert all(cover[r["pos"] - 1] == 1 for r in rows if r["consequence"] != "intergenic")
