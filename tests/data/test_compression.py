"""Is a compressed input whole? BGZF end-of-file marker and gzip stream checks
(genomamba.data.compression), on the bundled genome cut as interrupted downloads leave it."""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam

from genomamba.data.compression import BGZF_EOF, TRUNCATED_FIX, bgzf_problem, gzip_problem, is_bgzf_file

ECOLI = Path(__file__).resolve().parents[2] / "data" / "genomes" / "escherichia_coli_536.fa.gz"


def _block_starts(data: bytes) -> list[int]:
    starts, i = [], 0
    while i < len(data):
        starts.append(i)
        i += int.from_bytes(data[i + 16 : i + 18], "little") + 1
    return starts


def test_a_whole_bgzf_file_passes_and_cuts_are_told_apart(tmp_path: Path) -> None:
    data = ECOLI.read_bytes()
    assert data.endswith(BGZF_EOF) and bgzf_problem(ECOLI) is None
    third = _block_starts(data)[2]
    cuts = {"mid.fa.gz": data[: third + 100], "boundary.fa.gz": data[:third], "no_eof.fa.gz": data[: -len(BGZF_EOF)]}
    for name, cut in cuts.items():
        (tmp_path / name).write_bytes(cut)
    assert "ends in the middle of a block" in str(bgzf_problem(tmp_path / "mid.fa.gz"))
    for name in ("boundary.fa.gz", "no_eof.fa.gz"):  # a cut between blocks, or a writer that left the marker out
        assert "ends between two blocks, without its end-of-file marker" in str(bgzf_problem(tmp_path / name))
    for name in cuts:
        problem = bgzf_problem(tmp_path / name)
        assert problem is not None and problem.startswith(str(tmp_path / name)) and problem.endswith(TRUNCATED_FIX)
        assert is_bgzf_file(tmp_path / name)


def test_gzip_streams_are_read_to_their_end(tmp_path: Path) -> None:
    whole = gzip.compress(ECOLI.read_bytes()[:200_000])  # incompressible bytes: the cut falls inside the stream
    (tmp_path / "whole.gz").write_bytes(whole)
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "bad_crc.gz").write_bytes(whole[:-8] + bytes(8))
    assert gzip_problem(tmp_path / "whole.gz") is None
    assert gzip_problem(tmp_path / "cut.gz") == f"{tmp_path / 'cut.gz'}: the gzip stream ends early: {TRUNCATED_FIX}"
    assert "the compressed data is damaged" in str(gzip_problem(tmp_path / "bad_crc.gz"))


def test_an_htslib_bgzf_file_of_one_block_passes(tmp_path: Path) -> None:
    (tmp_path / "small.fa").write_text(">c\nACGT\n")
    pysam.tabix_compress(str(tmp_path / "small.fa"), str(tmp_path / "small.fa.gz"))
    assert bgzf_problem(tmp_path / "small.fa.gz") is None and gzip_problem(tmp_path / "small.fa.gz") is None
