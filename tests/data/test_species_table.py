"""The one species-table reader: columns, relative paths, comments, and named errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from genomamba.data.fasta import open_genomes
from genomamba.data.species_table import read_species_table
from genomamba.errors import FastaError


def test_reads_columns_in_any_order_with_comments_and_default_strain(tmp_path: Path) -> None:
    for path in (tmp_path / "g" / "a.fa", tmp_path / "abs.fa", tmp_path / "b2.fa"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(">c\nACGT\n")
    table = tmp_path / "t.tsv"
    table.write_text(
        "# genomes of the test\n"
        "species\tpath\tstrain\textra\n"
        "A a\tg/a.fa\tS1\tx\n"
        "\n"
        "# a comment between rows\n"
        f"B b\t{tmp_path / 'abs.fa'}\t\ty\n"
        "B b\tb2.fa\n"  # no strain column on this row: the file name stands in
    )
    rows = read_species_table(table)
    assert [(r.path, r.species, r.strain, r.line) for r in rows] == [
        (tmp_path / "g" / "a.fa", "A a", "S1", 3),
        (tmp_path / "abs.fa", "B b", "abs.fa", 6),
        (tmp_path / "b2.fa", "B b", "b2.fa", 7),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("file\tname\nx.fa\ty\n", r"t.tsv:1: expected a tab-separated header"),
        ("path\tspecies\n", "lists no genomes"),
        ("", r"t.tsv:1: expected a tab-separated header"),
        ("path\tspecies\nx.fa\n", r"t.tsv:2: expected 2 tab-separated columns"),
        ("path\tspecies\nx.fa\t\n", r"t.tsv:2: empty path or species"),
    ],
)
def test_bad_tables_name_file_and_line(tmp_path: Path, text: str, match: str) -> None:
    table = tmp_path / "t.tsv"
    table.write_text(text)
    with pytest.raises(FastaError, match=match):
        read_species_table(table)


def test_missing_table(tmp_path: Path) -> None:
    with pytest.raises(FastaError, match="species table not found"):
        read_species_table(tmp_path / "none.tsv")
    with pytest.raises(FastaError, match="species table not found"):
        open_genomes(tmp_path / "none.tsv")


def test_open_genomes_groups_a_table_by_species(make_fasta, tmp_path: Path) -> None:
    for name in ("a.fa", "b1.fa", "b2.fa"):
        make_fasta({"c": "ACGT" * 30}, name=name)
    table = tmp_path / "t.tsv"
    table.write_text("path\tspecies\na.fa\tA\nb1.fa\tB\nb2.fa\tB\n")
    files, names = open_genomes(table)
    assert names == ["A", "B"] and [(f.name, f.label) for f in files] == [("a", 0), ("b1", 1), ("b2", 1)]
