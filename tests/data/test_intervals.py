"""Intervals, BED reading and split construction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genomamba.data.intervals import (
    BedError,
    Interval,
    intersect,
    read_bed,
    split_by_contig,
    split_by_region,
    split_intervals,
)
from genomamba.errors import ConfigError


def _covers_exactly(splits: dict[str, list[Interval]], lengths: dict[str, int]) -> None:
    """Splits are pairwise disjoint and tile every record exactly."""
    for contig, n in lengths.items():
        pieces = sorted(iv for ivs in splits.values() for iv in ivs if iv.contig == contig)
        assert pieces[0].start == 0 and pieces[-1].end == n
        for a, b in zip(pieces, pieces[1:], strict=False):
            assert a.end == b.start  # contiguous, no overlap, no gap


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["c1", "c2", "c3", "plasmid"]), st.integers(1, 10**7), min_size=1),
    st.floats(0, 0.45),
    st.floats(0, 0.45),
)
def test_region_split_partitions_each_record(lengths: dict[str, int], vf: float, tf: float) -> None:
    splits = split_by_region(lengths, val_fraction=vf, test_fraction=tf)
    _covers_exactly(splits, lengths)
    for contig, n in lengths.items():
        val = sum(iv.length for iv in splits["val"] if iv.contig == contig)
        assert abs(val - n * vf) <= 1
        # held-out regions sit at the end: train < val < test
        order = [s for s in ("train", "val", "test") for iv in splits[s] if iv.contig == contig]
        assert order == sorted(order, key=["train", "val", "test"].index)


def test_contig_split_named_and_fraction() -> None:
    lengths = {"chr1": 1000, "chr2": 800, "chr3": 300, "chrM": 16}
    s = split_by_contig(lengths, holdout_contigs=["chr3"])
    assert s["val"] == [Interval("chr3", 0, 300)] and s["test"] == []
    assert {iv.contig for iv in s["train"]} == {"chr1", "chr2", "chrM"}
    s = split_by_contig(lengths, holdout_contigs={"val": ["chr2"], "test": ["chrM"]})
    assert [iv.contig for iv in s["test"]] == ["chrM"] and [iv.contig for iv in s["val"]] == ["chr2"]
    with pytest.raises(ConfigError, match="chr9"):
        split_by_contig(lengths, holdout_contigs=["chr9"])
    with pytest.raises(ConfigError, match="both"):
        split_by_contig(lengths, holdout_contigs={"val": ["chr2"], "test": ["chr2"]})
    # fraction-based: seeded, disjoint, each held-out split non-empty, same result for the same seed
    a = split_by_contig(lengths, val_fraction=0.1, test_fraction=0.1, seed=3)
    b = split_by_contig(lengths, val_fraction=0.1, test_fraction=0.1, seed=3)
    assert a == b and a["val"] and a["test"] and a["train"]
    _covers_exactly(a, lengths)


def test_bed_reading_and_restriction(tmp_path: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\n# comment\nchr1\t10\t50\tname\nchr1\t40\t90\nchr2\t0\t5\n\n")
    ivs = read_bed(bed, {"chr1": 100, "chr2": 10})
    assert ivs == [Interval("chr1", 10, 50), Interval("chr1", 40, 90), Interval("chr2", 0, 5)]
    s = split_intervals({"chr1": 100}, val_fraction=0.2, restrict_to=ivs)
    assert s["train"] == [Interval("chr1", 10, 80)] and s["val"] == [Interval("chr1", 80, 90)]
    assert intersect([Interval("c", 0, 10)], [Interval("c", 5, 20), Interval("d", 0, 3)]) == [
        Interval("c", 5, 10)
    ]


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("chr1\t10\n", "at least 3"),
        ("chr1\tx\t20\n", "integers"),
        ("chr1\t30\t20\n", "start < end"),
        ("chr1\t0\t500\n", "beyond"),
    ],
)
def test_malformed_bed_names_file_and_line(tmp_path: Path, line: str, match: str) -> None:
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t0\t10\n" + line)
    with pytest.raises(BedError, match=match) as err:
        read_bed(bed, {"chr1": 100})
    assert f"{bed}:2" in str(err.value)


def test_bad_fractions() -> None:
    with pytest.raises(ConfigError):
        split_by_region({"c": 10}, val_fraction=0.7, test_fraction=0.4)
    with pytest.raises(ConfigError):
        split_intervals({"c": 10}, mode="random")
