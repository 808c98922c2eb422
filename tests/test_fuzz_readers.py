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
