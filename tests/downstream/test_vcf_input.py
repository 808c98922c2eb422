"""VCF files as users have them (genomamba.downstream.variants.vcf): htslib's irrelevant warnings
silenced and its errors kept, a byte-order mark read past, the file checks a workflow runs."""

from __future__ import annotations

from pathlib import Path

import pysam
import pytest

from genomamba.downstream.variants.vcf import check_vcf, read_vcf
from genomamba.errors import VCFError

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"  # no ##contig lines
ROWS = "chr1\t5\t.\tA\tG\t.\t.\t.\nchr2\t9\tv2\tC\tT,A\t.\t.\t.\n"


def test_no_tabix_warnings_for_a_vcf_without_contig_lines(tmp_path: Path, capfd) -> None:
    (tmp_path / "v.vcf").write_text(HEADER + ROWS)
    pysam.tabix_compress(str(tmp_path / "v.vcf"), str(tmp_path / "v.vcf.gz"))
    for name in ("v.vcf", "v.vcf.gz"):
        got = [(v.chrom, v.pos, v.ref, v.alt, v.line) for v in read_vcf(tmp_path / name)]
        assert got == [("chr1", 5, "A", "G", 3), ("chr2", 9, "C", "T", 4), ("chr2", 9, "C", "A", 4)]
    err = capfd.readouterr().err
    assert "[W::" not in err and "tabix" not in err and "idx_find_and_load" not in err, err


def test_htslib_errors_still_print_and_warnings_come_back_after(tmp_path: Path, capfd) -> None:
    (tmp_path / "bad.vcf").write_text(HEADER + "chr1\tx\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(VCFError, match=r"malformed record 1 \(line 3\): POS 'x' is not a positive integer"):
        read_vcf(tmp_path / "bad.vcf")
    assert "[E::vcf_parse] Could not parse the position 'x'" in capfd.readouterr().err
    assert pysam.set_verbosity(3) == 3  # the reader put htslib's verbosity back


def test_a_byte_order_mark_is_read_past_with_line_numbers_kept(tmp_path: Path) -> None:
    (tmp_path / "bom.vcf").write_bytes(b"\xef\xbb\xbf" + (HEADER + ROWS).encode())
    assert [(v.chrom, v.pos, v.line) for v in read_vcf(tmp_path / "bom.vcf")][:2] == [("chr1", 5, 3), ("chr2", 9, 4)]
    (tmp_path / "bom_bad.vcf").write_bytes(b"\xef\xbb\xbf" + (HEADER + "chr1\t5\t.\tA\n").encode())
    with pytest.raises(VCFError, match=r"bom_bad.vcf: malformed record 1 \(line 3\): 4 tab-separated columns"):
        read_vcf(tmp_path / "bom_bad.vcf")


@pytest.mark.parametrize(("content", "fault"), [
    (None, "is a directory, not a VCF file"),
    (b"", "the VCF file is empty (0 bytes)"),
    ((HEADER + ROWS).encode("utf-16"), "is UTF-16 text; convert it to ASCII"),
    (b"chr1\t5\t.\tA\tG\n", "not a readable VCF"),
])
def test_check_vcf_names_the_file_and_the_fault(tmp_path: Path, content: bytes | None, fault: str) -> None:
    path = tmp_path / "in.vcf"
    path.mkdir() if content is None else path.write_bytes(content)
    with pytest.raises(VCFError) as err:
        check_vcf(path)
    assert str(err.value).startswith(str(path)) and fault in str(err.value) and "\n" not in str(err.value)


def test_check_vcf_reads_the_first_record(tmp_path: Path) -> None:
    (tmp_path / "ok.vcf").write_text(HEADER + ROWS)
    assert check_vcf(tmp_path / "ok.vcf") == tmp_path / "ok.vcf"
    (tmp_path / "bad.vcf").write_text(HEADER + "chr1\t5\t.\n")
    with pytest.raises(VCFError, match=r"bad.vcf: malformed record 1 \(line 3\): 3 tab-separated columns"):
        check_vcf(tmp_path / "bad.vcf")
