"""Training-data records: what a model trained on, matched to test sequence by content."""

from __future__ import annotations

from pathlib import Path

from data_helpers import random_dna, write_fasta

from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import Interval
from genomamba.data.provenance import describe_training_data, seen_overlap, sequence_digest


def test_overlap_counts_trained_test_bases_matched_by_sequence_not_name(tmp_path: Path) -> None:
    chrom, plasmid = random_dna(1000, seed=1), random_dna(300, seed=2)
    trained = GenomeFile(write_fasta(tmp_path / "a.fa", {"chr": chrom, "plasmid": plasmid}))
    record = describe_training_data([trained], [[Interval("chr", 0, 600), Interval("chr", 500, 800)]])
    (r,) = record["records"]  # only records with training intervals; touching parts merged
    assert (r["fasta"], r["record"], r["length"], r["intervals"]) == ("a.fa", "chr", 1000, [[0, 800]])
    assert r["sha256"] == sequence_digest(trained, "chr")

    # The same sequence, soft-masked, under another record and file name: still the trained sequence.
    renamed = GenomeFile(write_fasta(tmp_path / "b.fa", {"NC_1": chrom[:400] + chrom[400:].lower()}), name="copy")
    other = GenomeFile(write_fasta(tmp_path / "c.fa", {"chr": random_dna(1000, seed=3)}), name="other")
    got = seen_overlap(record, [
        (trained, [Interval("chr", 700, 1000), Interval("plasmid", 0, 300)]),
        (renamed, [Interval("NC_1", 0, 100), Interval("NC_1", 790, 900)]),
        (other, [Interval("chr", 0, 1000)]),  # same name and length, other sequence
    ])
    assert got == {"a": (100, 600), "copy": (110, 210), "other": (0, 1000)}


def test_a_genome_trained_twice_counts_its_bases_once(tmp_path: Path) -> None:
    g = GenomeFile(write_fasta(tmp_path / "a.fa", {"chr": random_dna(500, seed=4)}))
    record = describe_training_data([g, g], [[Interval("chr", 0, 300)], [Interval("chr", 100, 400)]])
    assert seen_overlap(record, [(g, [Interval("chr", 0, 500)])]) == {"a": (400, 500)}
