"""Opening genomes: every bad input raises the right GenomambaError naming the file."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pysam
import pytest
from data_helpers import random_dna, write_fasta

from genomamba.data import fasta as fasta_mod
from genomamba.data.fasta import GenomeFile, open_fasta, open_genomes
from genomamba.data.windows import fetch_window
from genomamba.errors import FastaError, GenomambaError, WindowError


def test_round_trip_plain_and_bgzf(make_fasta, tmp_path: Path) -> None:
    recs = {"chr1": random_dna(1000, 1), "chr2": random_dna(77, 2).lower()}
    plain = make_fasta(recs)
    bgz = tmp_path / "toy.bgz.fa.gz"
    pysam.tabix_compress(str(plain), str(bgz))
    for p in (plain, bgz):
        g = GenomeFile(p, label=3)
        assert g.lengths == {"chr1": 1000, "chr2": 77}
        assert g.fetch("chr1", 0, 1000) == recs["chr1"]
        assert g.fetch("chr1", 59, 181) == recs["chr1"][59:181]  # across line breaks
        assert g.fetch("chr2", 70, 77) == recs["chr2"][70:]  # case preserved
        item = fetch_window(g, "chr2", 10, 20)
        assert item["soft_mask"].all() and int(item["label"]) == 3
    with pytest.raises(WindowError, match="outside the record"):
        g.fetch("chr2", 70, 78)
    with pytest.raises(WindowError, match="no record named 'chrX'"):
        g.fetch("chrX", 0, 1)


def _assert_names_file(err: pytest.ExceptionInfo[GenomambaError], path: Path) -> None:
    assert isinstance(err.value, GenomambaError)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.fa"
    with pytest.raises(FastaError, match="not found") as err:
        open_fasta(p)
    _assert_names_file(err, p)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"##fileformat=VCFv4.2\n#CHROM\tPOS\n", "does not look like FASTA"),
        (b"just some notes\nACGT\n", "does not look like FASTA"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00binary", "binary"),
        (b"", "empty"),
        (b"\n\n  \n", "no sequence records"),
    ],
    ids=["vcf", "text", "binary", "empty", "blank"],
)
def test_not_fasta_or_empty(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "genome.fa"
    p.write_bytes(content)
    with pytest.raises(FastaError, match=match) as err:
        open_fasta(p)
    _assert_names_file(err, p)
    assert not Path(f"{p}.fai").exists()


def test_plain_gzip_explains_bgzip(make_fasta, tmp_path: Path) -> None:
    plain = make_fasta({"chr1": random_dna(500)})
    gz = tmp_path / "genome.fa.gz"
    with open(plain, "rb") as i, gzip.open(gz, "wb") as o:
        shutil.copyfileobj(i, o)
    with pytest.raises(FastaError, match="plain gzip") as err:
        open_fasta(gz)
    _assert_names_file(err, gz)
    assert "bgzip" in str(err.value)
    assert sorted(os.listdir(tmp_path)) == ["genome.fa.gz", "toy.fa"]  # nothing written


def test_duplicate_record_names_the_record(make_fasta) -> None:
    p = make_fasta({"chr1": "ACGT" * 10, "chr2": "A" * 5, "chr1 again": "C" * 7}, width=60)
    with pytest.raises(FastaError, match="duplicate record name 'chr1'") as err:
        open_fasta(p)
    _assert_names_file(err, p)


def test_empty_record_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "g.fa"
    p.write_text(">chr1\nACGT\n>hollow\n>chr3\nAC\n")
    with pytest.raises(FastaError, match="'hollow'") as err:
        open_fasta(p)
    _assert_names_file(err, p)


def test_inconsistent_line_lengths(tmp_path: Path) -> None:
    p = tmp_path / "ragged.fa"
    p.write_text(">chr1\nACGTACGT\nACG\nACGTACGT\n")
    with pytest.raises(FastaError, match=r"lines of a record differ in length at line 4 .*line 3 is shorter") as err:
        open_fasta(p)
    _assert_names_file(err, p)


def test_window_of_only_n_is_an_error(make_fasta) -> None:
    p = make_fasta({"chr1": random_dna(100) + "N" * 50 + random_dna(100, 3)})
    g = GenomeFile(p)
    with pytest.raises(WindowError, match="only N") as err:
        fetch_window(g, "chr1", 100, 150)
    _assert_names_file(err, p)
    assert int((fetch_window(g, "chr1", 90, 150)["input_ids"] == 4).sum()) == 50


def _make_read_only(d: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Make ``d`` unwritable; True if the immutable flag was set (undo with ``chattr -i``).

    Mode bits suffice for normal users. Root ignores them, so as root the directory is made
    immutable with ``chattr +i``; where that is unavailable (no e2fsprogs, overlayfs) the
    writability probe is told that ``d`` is read-only, and the test still checks that
    nothing is written there.
    """
    d.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    if os.geteuid() != 0:
        return False
    try:
        subprocess.run(["chattr", "+i", str(d)], check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError):
        real = fasta_mod.writable_dir
        monkeypatch.setattr(fasta_mod, "writable_dir", lambda p: Path(p) != d and real(p))
        return False


def _undo_read_only(d: Path, chattr: bool) -> None:
    if chattr:
        subprocess.run(["chattr", "-i", str(d)], check=True)
    d.chmod(stat.S_IRWXU)


@pytest.mark.parametrize("bgzf", [False, True], ids=["plain", "bgzf"])
def test_unwritable_index_location_falls_back_to_cache(
    tmp_path: Path,
    _isolated_cache: Path,
    bgzf: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ro = tmp_path / "readonly"
    ro.mkdir()
    seq = random_dna(2000, 5)
    p = write_fasta(ro / "g.fa", {"chr1": seq})
    if bgzf:
        pysam.tabix_compress(str(p), str(ro / "g.fa.gz"))
        p.unlink()
        p = ro / "g.fa.gz"
    before = sorted(os.listdir(ro))
    chattr = _make_read_only(ro, monkeypatch)
    try:
        assert not fasta_mod.writable_dir(ro)
        with caplog.at_level("WARNING", logger="genomamba.data.fasta"):
            g = GenomeFile(p)
        assert g.fetch("chr1", 1500, 1600) == seq[1500:1600]
        assert sorted(os.listdir(ro)) == before  # nothing written next to the FASTA
        assert g.index_paths.in_cache and _isolated_cache in g.index_paths.fai.parents
        assert g.index_paths.fai.exists() and (g.index_paths.gzi is None) == (not bgzf)
        assert str(p) in caplog.text and str(g.index_paths.fai.parent) in caplog.text
        # second open reuses the cached index silently
        caplog.clear()
        GenomeFile(p)
        assert "building the index" not in caplog.text
    finally:
        _undo_read_only(ro, chattr)


def test_bundled_genomes_open_without_writing(data_dir: Path) -> None:
    before = sorted(os.listdir(data_dir / "genomes"))
    files, names = open_genomes(data_dir / "species.tsv")
    assert names == [
        "Escherichia coli",
        "Klebsiella pneumoniae",
        "Staphylococcus aureus",
        "Helicobacter pylori",
    ]
    assert [f.label for f in files] == [0, 1, 1, 2, 2, 3]
    assert all(not f.index_paths.in_cache for f in files)
    assert sorted(os.listdir(data_dir / "genomes")) == before
    ecoli = files[0]
    assert ecoli.lengths == {"gi|110640213|ref|NC_008253.1|": 4_938_920}
    # first bases of NC_008253.1 (checked against the original gzip in data/README.md's procedure)
    assert ecoli.fetch("gi|110640213|ref|NC_008253.1|", 0, 20) == "AGCTTTTCATTCTGACTGCA"


def test_open_genomes_specs(make_fasta, tmp_path: Path) -> None:
    a = make_fasta({"a1": random_dna(300)}, name="sp_a.fa")
    b = make_fasta({"b1": random_dna(300, 1)}, name="sp_b.fa")
    c = make_fasta({"c1": random_dna(300, 2)}, name="sp_b2.fa")
    files, names = open_genomes([a, b])
    assert names == ["sp_a", "sp_b"] and [f.label for f in files] == [0, 1]
    files, names = open_genomes({"A": a, "B": [b, c]})
    assert names == ["A", "B"] and [f.label for f in files] == [0, 1, 1]
    with pytest.raises(FastaError, match="given twice"):
        open_genomes([a, a])


def test_open_file_handles_stay_bounded_over_a_large_corpus(make_fasta, tmp_path: Path, monkeypatch) -> None:
    """A species table of many genome files keeps at most ``max_open`` FASTA files open per
    process (least recently used closed first), re-opens evicted ones on demand, and a forked
    worker never reuses the parent's handles."""
    monkeypatch.setattr(fasta_mod.OPEN_FASTAS, "max_open", 4)
    seqs = {i: random_dna(300, 100 + i) for i in range(40)}
    table = tmp_path / "corpus.tsv"
    table.write_text("path\tspecies\n" + "".join(f"{make_fasta({f'c{i}': s}, name=f'g{i}.fa').name}\tsp{i % 5}\n" for i, s in seqs.items()))

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = fds()
    files, labels = open_genomes(table)
    assert len(files) == 40 and len(labels) == 5
    assert fds() - before <= 4 and len(fasta_mod.OPEN_FASTAS) == 4
    for _ in range(2):  # every file, twice: each fetch after an eviction re-opens the file
        for g in files:
            i = int(g.name[1:])  # files are grouped by species: g0, g5, ..., g1, g6, ...
            assert g.fetch(f"c{i}", 10, 70) == seqs[i][10:70]
            assert fds() - before <= 4
    pid = os.fork()
    if pid == 0:  # child: inherited handles are dropped, fetches open its own
        g7 = next(g for g in files if g.name == "g7")
        ok = len(fasta_mod.OPEN_FASTAS) == 0 and g7.fetch("c7", 0, 50) == seqs[7][:50]
        os._exit(0 if ok and len(fasta_mod.OPEN_FASTAS) == 1 else 1)
    assert os.waitpid(pid, 0)[1] == 0
    g39 = next(g for g in files if g.name == "g39")
    assert g39.fetch("c39", 0, 300) == seqs[39]  # the parent's pool still works
