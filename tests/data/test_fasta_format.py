"""The line at fault in a FASTA (genomamba.data.fasta_format.fasta_text_problem): what a user is
told instead of 'the lines of a record differ in length'."""

from __future__ import annotations

from pathlib import Path

import pytest

from genomamba.data.fasta_format import fasta_text_problem


@pytest.mark.parametrize("lines", [
    [b">chr1\n", b"ACGT\n", b"ACG\n", b">chr2\n", b"A\n"],
    [b">chr1 desc\r\n", b"ACGTN\r\n", b"ryk\r\n"],
    [b"\n", b";old comment\n", b">c\n", b"ACGT"],  # no newline at the end
])
def test_well_formed_fasta_lines_have_no_fault(lines: list[bytes]) -> None:
    assert fasta_text_problem(Path("x.fa"), lines) is None


@pytest.mark.parametrize(("lines", "fault"), [
    ([b">chr1\n", b"ACGT\n", b"> \n", b"ACGT\n"], "empty record name at line 3"),
    ([b">chr1\n", b"ACGT\n", b"AC GT\n"], "invalid character ' ' at line 3 (record 'chr1')"),
    ([b">chr1\n", b"ACGU\n"], "invalid character 'U' at line 2 (record 'chr1'): RNA"),
    ([b">chr1\n", b"AC\xc3\xa9T\n"], "invalid character byte 0xc3 (not ASCII) at line 2"),
    ([b">chr1\n", b"ACGT\n", b"\n", b"ACGT\n"], "blank line 3 inside a record, before line 4"),
    ([b">chr1\n", b"ACGT\n", b"ACGTA\n"], "lines of a record differ in length at line 3"),
    ([b">chr1\r\n", b"ACGT\r\n", b"ACGT\n", b"AC\r\n"], "mixed \\n and \\r\\n line endings at line 3"),
    ([b">chr1\rACGT\rACGT\r"], "old Mac (CR-only) line endings at line 1"),
])
def test_fasta_faults_are_named_by_line(lines: list[bytes], fault: str) -> None:
    problem = fasta_text_problem(Path("x.fa"), lines)
    assert problem is not None and problem.startswith("x.fa: ") and fault in problem, problem
