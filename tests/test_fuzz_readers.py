"""Hypothesis fuzzing of the input readers (issue 15): FASTA (pyfaidx through GenomeFile), VCF
(pysam through read_vcf) and the labelled-variants TSV. Random bytes, truncated files and
mixed line endings either read correctly or raise a GenomambaError; never another exception.

"Correctly" is checked against an independent parse of the same bytes where the input was
generated from known records: a FASTA that opens must give back exactly the bases of each
record (Biopython's parser as the reference), a well-formed VCF the records written.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path

from Bio import SeqIO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genomamba.data.fasta import GenomeFile
from genomamba.downstream.variants.labels import read_labelled_variants
from genomamba.downstream.variants.vcf import read_vcf
from genomamba.errors import GenomambaError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EOLS = st.sampled_from(["\n", "\r\n"])


def _write(data: bytes, suffix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix="genomamba_fuzz_"))
    p = d / f"input{suffix}"
    p.write_bytes(data)
    return p


def _open_fasta(data: bytes) -> dict[str, str] | None:
    """{record: bases} read through GenomeFile, or None when it raised a GenomambaError."""
    p = _write(data, ".fa")
    try:
        g = GenomeFile(p)
        return {name: g.fetch(name, 0, n) for name, n in g.lengths.items()}
    except GenomambaError:
        return None
    finally:
        for f in p.parent.iterdir():
            f.unlink()
        p.parent.rmdir()


@st.composite
def fasta_bytes(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A FASTA text from random records, with per-line endings (possibly mixed) and optionally
    truncated; returns (bytes, intact) where intact means uniform endings and no truncation."""
    names = draw(st.lists(st.from_regex(r"[A-Za-z0-9_|.]{1,12}", fullmatch=True), min_size=1, max_size=4, unique=True))
    width = draw(st.integers(1, 30))
    uniform = draw(st.booleans())
    eol_all = draw(EOLS)
    chunks: list[str] = []
    for name in names:
        seq = draw(st.text(alphabet="ACGTNacgtnRY", min_size=1, max_size=120))
        lines = [f">{name} description"] + [seq[i : i + width] for i in range(0, len(seq), width)]
        chunks.extend(line + (eol_all if uniform else draw(EOLS)) for line in lines)
    data = "".join(chunks).encode()
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return (data if cut is None else data[:cut]), uniform and cut is None


@FUZZ
@given(st.binary(max_size=600))
def test_fasta_random_bytes_read_or_raise_project_error(data: bytes) -> None:
    _open_fasta(data)  # anything but a GenomambaError fails the test


@FUZZ
@given(st.binary(max_size=300).map(lambda b: b">chr1\n" + b))
def test_fasta_random_bytes_after_a_header(data: bytes) -> None:
    _open_fasta(data)


@FUZZ
@given(fasta_bytes())
def test_fasta_mixed_line_endings_and_truncation(case: tuple[bytes, bool]) -> None:
    data, intact = case
    got = _open_fasta(data)
    if intact:
        assert got is not None, "a well-formed FASTA must open"
    if got is not None:
        ref = {r.id: str(r.seq) for r in SeqIO.parse(io.StringIO(data.decode().replace("\r\n", "\n")), "fasta")}
        assert got == ref


VCF_HEADER = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


@st.composite
def vcf_bytes(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, int, str, str]] | None]:
    rows = draw(st.lists(st.tuples(st.integers(1, 1000), st.sampled_from("ACGT"), st.sampled_from("ACGT")), max_size=5))
    rows = sorted(set(rows))
    eol = draw(EOLS)
    mixed = draw(st.booleans())
    lines = VCF_HEADER.splitlines() + [f"chr1\t{p}\t.\t{r}\t{a}\t.\t.\t." for p, r, a in rows]
    text = "".join(line + (draw(EOLS) if mixed else eol) for line in lines).encode()
    cut = draw(st.one_of(st.none(), st.integers(0, len(text))))
    expected = [("chr1", p, r, a) for p, r, a in rows] if cut is None and eol == "\n" and not mixed else None
    return (text if cut is None else text[:cut]), expected


def _read_or_none(data: bytes, suffix: str, read: Callable[[Path], list]) -> list | None:
    """``read`` the bytes from a temporary file: its rows, or None for the project's own error
    (any other exception fails the test)."""
    p = _write(data, suffix)
    try:
        return read(p)
    except GenomambaError:
        return None
    finally:
        p.unlink()
        p.parent.rmdir()


def _read_vcf(data: bytes) -> list[tuple[str, int, str, str]] | None:
    return _read_or_none(data, ".vcf", lambda p: [(v.chrom, v.pos, v.ref, v.alt) for v in read_vcf(p)])


@FUZZ
@given(st.binary(max_size=400))
def test_vcf_random_bytes_read_or_raise_project_error(data: bytes) -> None:
    _read_vcf(data)


@FUZZ
@given(vcf_bytes())
def test_vcf_mixed_line_endings_and_truncation(case: tuple[bytes, list | None]) -> None:
    data, expected = case
    got = _read_vcf(data)
    if expected is not None:
        assert got == expected


@st.composite
def labels_bytes(draw: st.DrawFn) -> tuple[bytes, list[dict] | None]:
    rows = draw(st.lists(st.tuples(st.integers(1, 10**6), st.sampled_from("ACGT"), st.sampled_from("ACGT"), st.integers(0, 1)),
                         min_size=1, max_size=5, unique_by=lambda r: r[:3]))  # each variant labelled once
    mixed = draw(st.booleans())
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = ["chrom\tpos\tref\talt\tlabel\tbin"] + [f"chr1\t{p}\t{r}\t{a}\t{y}\tb{p % 3}" for p, r, a, y in rows]
    text = "".join(line + (draw(st.sampled_from(["\n", "\r\n", "\r"])) if mixed else eol) for line in lines).encode()
    cut = draw(st.one_of(st.none(), st.integers(0, len(text))))
    expected = [{"pos": p, "ref": r, "alt": a, "label": y} for p, r, a, y in rows] if cut is None else None
    return (text if cut is None else text[:cut]), expected


def _read_labels(data: bytes) -> list[dict] | None:
    return _read_or_none(
        data, ".tsv", lambda p: [{k: r[k] for k in ("pos", "ref", "alt", "label")} for r in read_labelled_variants(p)]
    )


@FUZZ
@given(st.binary(max_size=400))
def test_labels_tsv_random_bytes_read_or_raise_project_error(data: bytes) -> None:
    _read_labels(data)


@FUZZ
@given(labels_bytes())
def test_labels_tsv_mixed_line_endings_and_truncation(case: tuple[bytes, list | None]) -> None:
    data, expected = case
    got = _read_labels(data)
    if expected is not None:
        assert got == expected


@st.composite
def noisy_labels_bytes(draw: st.DrawFn) -> tuple[bytes, list[dict] | None]:
    """A labels TSV as people save it: a BOM, '#CHROM'-style header names in any case, padded
    cells, and sometimes a label that is not 0/1; expected rows when every label is valid."""
    rows = draw(st.lists(st.tuples(st.integers(1, 10**6), st.sampled_from("ACGT"), st.sampled_from("ACGT"),
                                   st.sampled_from(["0", "1", "1.0", "yes", "2", " 1", ""])),
                         min_size=1, max_size=5, unique_by=lambda r: r[:3]))
    names = [draw(st.sampled_from([c, c.upper(), c.title()])) for c in ("chrom", "pos", "ref", "alt", "label")]
    names[0] = draw(st.sampled_from(["", "#"])) + names[0]
    bom = draw(st.booleans())
    lines = ["\t".join(names)] + [f"chr1\t{p}\t{r}\t{a}\t{y}" for p, r, a, y in rows]
    text = ("\ufeff" if bom else "") + "".join(line + draw(st.sampled_from(["\n", "\r\n"])) for line in lines)
    valid = all(y.strip() in ("0", "1", "1.0") for *_, y in rows)
    expected = [{"pos": p, "ref": r, "alt": a, "label": int(float(y))} for p, r, a, y in rows] if valid else None
    return text.encode(), expected


@FUZZ
@given(noisy_labels_bytes())
def test_labels_tsv_as_people_save_it(case: tuple[bytes, list | None]) -> None:
    data, expected = case
    got = _read_labels(data)
    assert got == expected  # valid rows are read exactly; any bad label is the project's error


# ----------------------------------------------------------------------------- species table
def _read_table(data: bytes, genomes: list[Path]) -> list[tuple[Path, str, str]] | None:
    from genomamba.data.species_table import read_species_table

    d = Path(tempfile.mkdtemp(prefix="genomamba_fuzz_"))
    try:
        for g in genomes:
            (d / g).parent.mkdir(parents=True, exist_ok=True)
            (d / g).write_text(">c\nACGT\n")
        (d / "t.tsv").write_bytes(data)
        try:
            return [(r.path.relative_to(d), r.species, r.strain) for r in read_species_table(d / "t.tsv")]
        except GenomambaError:
            return None
    finally:
        import shutil

        shutil.rmtree(d)


@FUZZ
@given(st.binary(max_size=400))
def test_species_table_random_bytes_read_or_raise_project_error(data: bytes) -> None:
    _read_table(data, [Path("a.fa")])


@st.composite
def species_table_bytes(draw: st.DrawFn) -> tuple[bytes, list[Path], list[tuple[Path, str, str]] | None]:
    """A species table over a few genome files (some missing, some listed twice), columns in any
    order, with comments, blank lines, padded cells, a BOM and mixed line endings; the expected
    rows when every file exists once."""
    files = [Path(f"g{i}.fa") if i % 2 else Path("sub") / f"g{i}.fa" for i in range(4)]
    picks = draw(st.lists(st.sampled_from(files), min_size=1, max_size=5))
    present = draw(st.lists(st.sampled_from(files), max_size=4, unique=True))
    species = [draw(st.sampled_from(["Escherichia coli", "Staphylococcus aureus", "K p"])) for _ in picks]
    strains = [draw(st.sampled_from(["", "536", "N315", " 536 "])) for _ in picks]
    columns = draw(st.permutations(["path", "species", "strain"]))
    cell = {"path": [str(p) for p in picks], "species": species, "strain": strains}
    lines = ["# genomes", "\t".join(columns)] + ["\t".join(cell[c][i] for c in columns) for i in range(len(picks))]
    if draw(st.booleans()):
        lines.insert(2, "")
    text = ("\ufeff" if draw(st.booleans()) else "") + "".join(line + draw(EOLS) for line in lines)
    rows = [(p, sp, st_.strip() or p.name) for p, sp, st_ in zip(picks, species, strains, strict=True)]
    ok = set(picks) <= set(present) and len(set(picks)) == len(picks) and len({r[1:] for r in rows}) == len(rows)
    return text.encode(), present, rows if ok else None


@FUZZ
@given(species_table_bytes())
def test_species_table_reads_exactly_or_raises_project_error(case: tuple[bytes, list[Path], list | None]) -> None:
    data, present, expected = case
    got = _read_table(data, present)
    assert got == expected  # exactly the rows when every genome exists once; else the project's error
