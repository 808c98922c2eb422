"""Genomic intervals, BED reading and train/val/test splits.

Coordinates are 0-based, half-open ``[start, end)`` throughout (as in BED and Python slices).

Splits are sets of intervals; a window is only ever cut *inside a single interval*, so a
training window can never overlap a held-out region. Two kinds:

* **by contig** (:func:`split_by_contig`): whole records are held out, named explicitly
  (``holdout_contigs``) or chosen by a seeded shuffle until ``val_fraction`` /
  ``test_fraction`` of the bases are reached — the usual chromosome-held-out split;
* **by region** (:func:`split_by_region`): for genomes with one or few records (a bacterial
  chromosome), each record is cut into ``[train | val | test]``: the last ``test_fraction``
  is test, the ``val_fraction`` before it is validation, the rest is training.

>>> split_by_region({"chr": 1000}, val_fraction=0.1, test_fraction=0.05)
{'train': [Interval(contig='chr', start=0, end=850)], 'val': [Interval(contig='chr', start=850, end=950)], 'test': [Interval(contig='chr', start=950, end=1000)]}
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genomamba.data.contigs import ContigNames
from genomamba.errors import ConfigError, GenomambaError

__all__ = [
    "BedError",
    "Interval",
    "intersect",
    "read_bed",
    "split_by_contig",
    "split_by_region",
    "split_intervals",
]

SPLITS = ("train", "val", "test")


class BedError(GenomambaError):
    """A BED file is missing or has a malformed line (the message names file and line)."""


class Interval(NamedTuple):
    """A 0-based half-open genomic interval ``contig[start:end]``."""

    contig: str
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        return self.contig == other.contig and self.start < other.end and other.start < self.end

    def contains(self, contig: str, start: int, end: int) -> bool:
        return contig == self.contig and self.start <= start and end <= self.end


def read_bed(path: str | os.PathLike[str], lengths: Mapping[str, int] | None = None) -> list[Interval]:
    """Read the first three columns of a BED file.

    Header lines (``#``, ``track``, ``browser``) and blank lines are skipped.

    Args:
        path: BED file.
        lengths: record lengths; when given, every interval must lie inside its record.

    Raises:
        BedError: missing file, or a line with fewer than 3 columns, non-integer or negative
            coordinates, ``start >= end``, or ``end`` beyond the record (names file and line).
    """
    p = Path(path)
    if not p.exists():
        raise BedError(f"BED file not found: {p}")
    # Contigs may be written as accessions of the FASTA's records (see genomamba.data.contigs);
    # they are stored under the record name.
    names = ContigNames(lengths, source="the FASTA") if lengths is not None else None
    out: list[Interval] = []
    try:
        text = p.read_text()
    except UnicodeDecodeError as e:
        raise BedError(f"{p}: not a text BED file ({e.reason} at byte {e.start})") from None
    if True:
        for lineno, line in enumerate(text.splitlines(keepends=True), start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cols = line.rstrip("\n\r").split("\t")
            if len(cols) < 3:
                cols = line.split()  # tolerate space-separated BED
            if len(cols) < 3:
                raise BedError(
                    f"{p}:{lineno}: expected at least 3 tab-separated columns (chrom, start, end): {line.strip()!r}"
                )
            try:
                start, end = int(cols[1]), int(cols[2])
            except ValueError:
                raise BedError(
                    f"{p}:{lineno}: start/end must be integers, got {cols[1]!r}, {cols[2]!r}"
                ) from None
            if start < 0 or start >= end:
                raise BedError(
                    f"{p}:{lineno}: need 0 <= start < end (0-based, half-open), got {start}, {end}"
                )
            contig = cols[0]
            if names is not None and lengths is not None:
                try:
                    contig = names.get(contig) or contig
                except GenomambaError as e:
                    raise BedError(f"{p}:{lineno}: {e}") from None
                if contig in lengths and end > lengths[contig]:
                    raise BedError(
                        f"{p}:{lineno}: end {end} is beyond {cols[0]!r} (length {lengths[contig]}); "
                        "is the BED for another genome build?"
                    )
            out.append(Interval(contig, start, end))
    if not out:
        raise BedError(f"BED file {p} has no intervals")
    return out


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or touching intervals."""
    out: list[Interval] = []
    for iv in sorted(intervals):
        if out and out[-1].contig == iv.contig and iv.start <= out[-1].end:
            out[-1] = Interval(iv.contig, out[-1].start, max(out[-1].end, iv.end))
        else:
            out.append(iv)
    return out


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Intersection of two interval sets (each merged first)."""
    by_contig: dict[str, list[Interval]] = {}
    for iv in merge(b):
        by_contig.setdefault(iv.contig, []).append(iv)
    out = []
    for iv in merge(a):
        for jv in by_contig.get(iv.contig, ()):
            s, e = max(iv.start, jv.start), min(iv.end, jv.end)
            if s < e:
                out.append(Interval(iv.contig, s, e))
    return out


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must be in [0, 1) and sum to less than 1"
        )


def split_by_region(
    lengths: Mapping[str, int], *, val_fraction: float = 0.05, test_fraction: float = 0.0
) -> dict[str, list[Interval]]:
    """Cut each record into ``[train | val | test]`` contiguous regions (see module docstring)."""
    _check_fractions(val_fraction, test_fraction)
    out: dict[str, list[Interval]] = {k: [] for k in SPLITS}
    for contig, n in lengths.items():
        b_test = n - round(n * test_fraction)
        b_val = b_test - round(n * val_fraction)
        for split, s, e in (("train", 0, b_val), ("val", b_val, b_test), ("test", b_test, n)):
            if s < e:
                out[split].append(Interval(contig, s, e))
    return out


def split_by_contig(
    lengths: Mapping[str, int],
    *,
    holdout_contigs: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    val_fraction: float = 0.05,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> dict[str, list[Interval]]:
    """Hold out whole records.

    Args:
        lengths: ``{record: length}``.
        holdout_contigs: records for validation (a list), or ``{"val": [...], "test": [...]}``.
            When ``None``, records are shuffled with ``seed`` and taken for test, then val,
            until each reaches its fraction of the total length (at least one record each
            when the fraction is positive).
        seed: seed of that shuffle.

    Raises:
        ConfigError: a named record does not exist, or a record would be in two splits, or
            nothing is left for training.
    """
    _check_fractions(val_fraction, test_fraction)
    held: dict[str, list[str]] = {"val": [], "test": []}
    if holdout_contigs is not None:
        if isinstance(holdout_contigs, Mapping):
            unknown_keys = set(holdout_contigs) - {"val", "test"}
            if unknown_keys:
                raise ConfigError(f"holdout_contigs keys must be 'val'/'test', got {sorted(unknown_keys)}")
            held = {k: list(holdout_contigs.get(k, ())) for k in ("val", "test")}
        else:
            held["val"] = [holdout_contigs] if isinstance(holdout_contigs, str) else list(holdout_contigs)
        for split, names in held.items():
            missing = [c for c in names if c not in lengths]
            if missing:
                raise ConfigError(
                    f"holdout_contigs[{split}] names records not in the genome: {missing}; available: {list(lengths)[:20]}"
                )
        both = set(held["val"]) & set(held["test"])
        if both:
            raise ConfigError(f"records {sorted(both)} are in both the val and test hold-out")
    else:
        rng = np.random.default_rng(seed)
        order = [list(lengths)[i] for i in rng.permutation(len(lengths))]
        total = sum(lengths.values())
        for split, frac in (("test", test_fraction), ("val", val_fraction)):
            if frac <= 0:
                continue
            got = 0
            while order and (got < frac * total or not held[split]):
                c = order.pop(0)
                held[split].append(c)
                got += lengths[c]
    where = {c: s for s, names in held.items() for c in names}
    out: dict[str, list[Interval]] = {k: [] for k in SPLITS}
    for contig, n in lengths.items():
        out[where.get(contig, "train")].append(Interval(contig, 0, n))
    if not out["train"]:
        raise ConfigError(f"the contig split left no record for training (held out: {held})")
    return out


def split_intervals(
    lengths: Mapping[str, int],
    *,
    mode: str = "region",
    val_fraction: float = 0.05,
    test_fraction: float = 0.0,
    holdout_contigs: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    restrict_to: Iterable[Interval] | None = None,
    seed: int = 0,
) -> dict[str, list[Interval]]:
    """Split a genome into ``{"train", "val", "test"}`` interval lists, optionally within a BED.

    Args:
        lengths: ``{record: length}`` of one FASTA file.
        mode: ``"region"`` (:func:`split_by_region`) or ``"contig"`` (:func:`split_by_contig`).
        restrict_to: if given (BED intervals), every split is intersected with it.
    """
    if mode == "region":
        splits = split_by_region(lengths, val_fraction=val_fraction, test_fraction=test_fraction)
    elif mode == "contig":
        splits = split_by_contig(
            lengths,
            holdout_contigs=holdout_contigs,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
        )
    else:
        raise ConfigError(f"split mode must be 'region' or 'contig', got {mode!r}")
    if restrict_to is not None:
        allowed = [iv for iv in restrict_to if iv.contig in lengths]
        splits = {k: intersect(v, allowed) for k, v in splits.items()}
    return splits
