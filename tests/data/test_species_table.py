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


def _genomes(tmp_path: Path, *names: str) -> None:
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(">c\nACGT\n")


def test_one_genome_listed_twice_names_both_lines(tmp_path: Path) -> None:
    _genomes(tmp_path, "a.fa", "b.fa")
    (tmp_path / "link.fa").symlink_to(tmp_path / "a.fa")
    table = tmp_path / "t.tsv"
    table.write_text("path\tspecies\tstrain\na.fa\tA\ts1\nb.fa\tB\ts2\n./a.fa\tA\ts3\n")
    with pytest.raises(FastaError, match=r"t.tsv: lines 2 and 4 name the same genome .*sampled twice: remove one"):
        read_species_table(table)
    table.write_text("path\tspecies\tstrain\na.fa\tA\ts1\nb.fa\tB\ts2\nlink.fa\tA\ts3\n")  # one file, two names
    with pytest.raises(FastaError, match=r"lines 2 and 4 name the same genome .*a.fa and .*link.fa, one file"):
        read_species_table(table)
    table.write_text("path\tspecies\tstrain\na.fa\tA\ts1\nb.fa\tA\ts1\n")
    with pytest.raises(FastaError, match=r"lines 2 and 3 both name strain 's1' of 'A'"):
        read_species_table(table)


def test_a_missing_fasta_is_named_with_the_table_line_and_resolved_path(tmp_path: Path, monkeypatch) -> None:
    _genomes(tmp_path, "tables/a.fa")
    (tmp_path / "tables" / "t.tsv").write_text("path\tspecies\na.fa\tA\ngenomes/b.fa\tB\n")
    monkeypatch.chdir(tmp_path)  # the table is given relative to the working directory
    with pytest.raises(FastaError) as err:
        read_species_table("tables/t.tsv")
    assert str(err.value) == (
        f"genome FASTA not found: {tmp_path / 'tables' / 'genomes' / 'b.fa'} (line 3 of the species table tables/t.tsv; "
        "relative paths in a table are taken from the table's folder); fix the path or remove the line"
    )


def test_tables_as_spreadsheets_save_them(tmp_path: Path) -> None:
    _genomes(tmp_path, "a.fa", "b.fa")
    table = tmp_path / "t.tsv"
    table.write_bytes("\ufeffpath\tspecies \tstrain\r\n a.fa \tA\t s1 \r\nb.fa\tB\t\r\n".encode())
    assert [(r.path.name, r.species, r.strain) for r in read_species_table(table)] == [("a.fa", "A", "s1"), ("b.fa", "B", "b.fa")]
    table.write_text("path,species\na.fa,A\n")
    with pytest.raises(FastaError, match="comma-separated: use tabs"):
        read_species_table(table)
    table.write_bytes(b"path\tspecies\n\xff\xfe\tA\n")
    with pytest.raises(FastaError, match="not a UTF-8 text table"):
        read_species_table(table)


def test_genome_lists_refuse_one_file_twice(tmp_path: Path) -> None:
    from genomamba.downstream.species.genomes import as_genomes
    from genomamba.errors import ConfigError

    _genomes(tmp_path, "a.fa")
    with pytest.raises(ConfigError, match=r"genome entries 0 .* and 1 .* name the same FASTA file"):
        as_genomes([{"path": tmp_path / "a.fa", "species": "A"}, {"path": tmp_path / "." / "a.fa", "species": "B"}])
