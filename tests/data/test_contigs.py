"""Accession aliases for NCBI-style record names (issue 16), everywhere a contig is named:
GenomeFile lookups, API intervals, BED files, holdout_contigs and VCF CHROM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from data_helpers import random_dna, write_fasta

from genomamba.api import GenomambaModel, as_sources
from genomamba.data import GenomeDataModule, GenomeFile, read_bed
from genomamba.data.contigs import ContigNames, accession_aliases
from genomamba.data.intervals import BedError
from genomamba.downstream.variants.scoring import score_variants
from genomamba.downstream.variants.vcf import Variant
from genomamba.errors import ContigError, VCFError, WindowError
from genomamba.models import GenomambaConfig, GenomambaLM

REPO_ROOT = Path(__file__).resolve().parents[2]
ECOLI = REPO_ROOT / "data" / "genomes" / "escherichia_coli_536.fa.gz"
NCBI = "gi|110640213|ref|NC_008253.1|"


@pytest.mark.parametrize(
    ("name", "aliases"),
    [
        (NCBI, ["NC_008253.1", "NC_008253"]),
        ("gi|29165615|gb|BA000018.3|", ["BA000018.3", "BA000018"]),
        ("ref|NC_002745.2|", ["NC_002745.2", "NC_002745"]),
        ("lcl|contig7", ["contig7"]),
        ("CP003200.1", ["CP003200"]),
        ("chr1", []),
        ("gi|123|", []),
    ],
)
def test_accession_aliases(name: str, aliases: list[str]) -> None:
    assert accession_aliases(name) == aliases


def test_exact_names_win_and_ambiguous_aliases_raise() -> None:
    names = ContigNames(["gi|1|ref|NC_1.1|", "gi|2|ref|NC_1.2|", "NC_1.2"], source="two.fa")
    assert names.get("NC_1.2") == "NC_1.2"  # an exact record name beats an alias
    assert names.get("NC_1.1") == "gi|1|ref|NC_1.1|"
    assert names.get("chrZ") is None
    with pytest.raises(ContigError, match=r"'NC_1' is ambiguous in two\.fa.*gi\|1\|ref\|NC_1\.1\|.*gi\|2\|ref\|NC_1\.2\|"):
        names.get("NC_1")
    with pytest.raises(ContigError, match="no record named 'chrZ' in two.fa"):
        names.resolve("chrZ")


def test_bundled_genome_answers_to_its_accession() -> None:
    g = GenomeFile(ECOLI)
    assert g.fetch("NC_008253.1", 0, 20) == g.fetch("NC_008253", 0, 20) == g.fetch(NCBI, 0, 20) == "AGCTTTTCATTCTGACTGCA"
    assert g.length("NC_008253.1") == 4_938_920
    with pytest.raises(WindowError, match="no record named 'NC_999'"):
        g.fetch("NC_999", 0, 10)


def test_api_interval_with_an_accession() -> None:
    (src,) = as_sources([(str(ECOLI), "NC_008253.1", 100, 130)])
    (ref,) = as_sources([(str(ECOLI), NCBI, 100, 130)])
    assert src.length == 30 and np.array_equal(src.read(0, 30), ref.read(0, 30))


def _two_accessions(tmp_path: Path) -> Path:
    return write_fasta(tmp_path / "two.fa", {"gi|1|ref|NC_1.1|": random_dna(400, 1), "gi|2|ref|NC_1.2|": random_dna(300, 2)})


def test_api_interval_with_an_ambiguous_alias_names_it(tmp_path: Path) -> None:
    p = _two_accessions(tmp_path)
    with pytest.raises(ContigError, match="interval 0: contig 'NC_1' is ambiguous"):
        as_sources([(str(p), "NC_1", 0, 10)])


def test_bed_with_accessions_is_stored_under_record_names(tmp_path: Path) -> None:
    p = _two_accessions(tmp_path)
    lengths = GenomeFile(p).lengths
    bed = tmp_path / "r.bed"
    bed.write_text("NC_1.1\t0\t100\nNC_1.2\t50\t300\n")
    assert read_bed(bed, lengths) == [("gi|1|ref|NC_1.1|", 0, 100), ("gi|2|ref|NC_1.2|", 50, 300)]
    bed.write_text("NC_1.2\t50\t301\n")
    with pytest.raises(BedError, match=r"r\.bed:1: end 301 is beyond 'NC_1.2' \(length 300\)"):
        read_bed(bed, lengths)
    bed.write_text("NC_1.1\t0\t100\nNC_1\t0\t10\n")
    with pytest.raises(BedError, match=r"r\.bed:2: contig 'NC_1' is ambiguous"):
        read_bed(bed, lengths)


def test_datamodule_bed_and_holdout_accept_accessions(tmp_path: Path) -> None:
    p = _two_accessions(tmp_path)
    bed = tmp_path / "r.bed"
    bed.write_text("NC_1.1\t0\t400\n")
    dm = GenomeDataModule(str(p), window_length=32, batch_size=2, train_samples_per_epoch=4, bed=str(bed),
                          holdout_contigs=["NC_1.2"])
    dm.setup()
    # only the BED's record trains; the held-out record is named by its accession
    assert {iv.contig for iv in dm.splits["train"][0]} == {"gi|1|ref|NC_1.1|"}
    assert dm.splits["val"][0] == []  # NC_1.2 is held out but outside the BED
    dm = GenomeDataModule(str(p), window_length=32, batch_size=2, train_samples_per_epoch=4, holdout_contigs=["NC_1.2"])
    dm.setup()
    assert [iv.contig for iv in dm.splits["val"][0]] == ["gi|2|ref|NC_1.2|"]


def test_vcf_chrom_as_accession_scores_like_the_record_name() -> None:
    torch.manual_seed(0)
    model = GenomambaModel(GenomambaLM(GenomambaConfig(d_model=16, n_layer=1)), device="cpu").model
    g = GenomeFile(ECOLI)
    ref = g.fetch(NCBI, 999, 1000)
    alt = "A" if ref != "A" else "C"
    rows = score_variants(model, g, [Variant("NC_008253.1", 1000, ref, alt), Variant(NCBI, 1000, ref, alt)], window=32)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert rows[0]["chrom"] == "NC_008253.1"  # reported as the user wrote it
    assert rows[0]["score"] == pytest.approx(rows[1]["score"])


def test_vcf_chrom_ambiguous_alias_is_an_error(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=16, n_layer=1))
    p = _two_accessions(tmp_path)
    with pytest.raises(VCFError, match="record 3 .*contig 'NC_1' is ambiguous"):
        score_variants(model, p, [Variant("NC_1", 10, "A", "C", record=3, line=7)], window=32)
