"""The labelled-variant TSV: one home for reading it, used by the CLI, the supervised head,
the benchmarks and the Snakemake workflow.

Format: a tab-separated header with chrom, pos (1-based), ref, alt, label (0/1), optional bin
and any other columns (kept as text), then one row per variant. Column names are matched
without regard to case or a leading ``#``; cells are stripped of surrounding spaces; a UTF-8
byte-order mark and Windows or old Mac line endings are accepted. Each variant is labelled once.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from typing import Any

from genomamba.errors import VCFError

__all__ = ["VariantKey", "labels_by_variant", "read_labelled_variants"]

VariantKey = tuple[str, int, str, str]  # (chrom, 1-based pos, REF, ALT), alleles upper-case


_LABEL_COLUMNS = ("chrom", "pos", "ref", "alt", "label")
_FORMAT = "a tab-separated header with chrom, pos, ref, alt, label (0/1) and optional bin, then one row per variant"
# 0/1 as written by hand, and as pandas writes an integer column that held a missing value
_LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}


def _column(name: str | None) -> str:
    """The name a header cell stands for: ``#CHROM`` and ``Chrom`` are ``chrom``."""
    clean = (name or "").strip().lstrip("#").strip()
    return clean.lower() if clean.lower() in (*_LABEL_COLUMNS, "bin") else clean


def read_labelled_variants(path: str | os.PathLike[str], option: str | None = None) -> list[dict[str, Any]]:
    """Rows of a labelled-variant TSV: header with chrom, pos (1-based), ref, alt, label (0/1),
    optional bin (e.g. a distance or substitution class) and any other columns (kept as text).

    Args:
        path: the TSV.
        option: the command-line option or config key that named it (``--labels``,
            ``task.labels``), for the messages.

    Raises:
        VCFError: missing file or column, a row whose pos is not a positive integer or whose label
            is not 0 or 1, a row with more or fewer cells than the header, or one variant labelled
            twice; the message names the file, the line and the fix.
    """
    path = os.fspath(path)
    name = f"{option} {path}" if option else path
    if os.path.isdir(path):
        raise VCFError(f"{name} is a directory; pass the labelled-variants TSV ({_FORMAT})")
    if not os.path.isfile(path):
        raise VCFError(f"{name}: labelled-variants file not found; pass an existing TSV ({_FORMAT})")
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise VCFError(f"{name}: not a UTF-8 text TSV ({e.reason} at byte {e.start}); expected {_FORMAT}") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise VCFError(f"{name}: the file is empty; expected {_FORMAT}")
    if first.startswith("##fileformat=VCF"):
        raise VCFError(f"{name} is a VCF, not a labels TSV; expected {_FORMAT} (score-variants reads 0/1 labels from a "
                       "VCF's INFO field with --label-key)")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    try:
        header = [_column(c) for c in next(reader)]
        missing = [c for c in _LABEL_COLUMNS if c not in header]
        if missing:
            sep = next((f"; the header is {kind}-separated, use tabs" for ch, kind in ((",", "comma"), (";", "semicolon"))
                        if len(header) == 1 and ch in header[0]), "")
            raise VCFError(f"{name}: header lacks column(s) {missing}{sep}; {_FORMAT} is required")
        twice = next((c for i, c in enumerate(header) if c in header[:i]), None)
        if twice is not None:
            raise VCFError(f"{name}: the header names column {twice!r} twice; rename or remove one")
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise VCFError(f"{name}, line {line}: {len(cells)} tab-separated cells, the header has {len(header)} "
                               f"({', '.join(header)}); fix the row")
            row: dict[str, Any] = {k: v.strip() for k, v in zip(header, cells, strict=True)}
            empty = [c for c in _LABEL_COLUMNS if not row[c]]
            if empty:
                raise VCFError(f"{name}, line {line}: empty column(s) {empty}; every row needs {', '.join(_LABEL_COLUMNS)}")
            if not (row["pos"].isascii() and row["pos"].isdigit()) or int(row["pos"]) < 1:
                raise VCFError(f"{name}, line {line}: pos {row['pos']!r} is not a positive integer (1-based position)")
            if row["label"] not in _LABELS:
                raise VCFError(f"{name}, line {line}: label {row['label']!r} is not 0 or 1 (1 = the class expected to "
                               "score as damaging, 0 = the other)")
            row["pos"], row["label"] = int(row["pos"]), _LABELS[row["label"]]
            key = (row["chrom"], str(row["pos"]), row["ref"].upper(), row["alt"].upper())
            if key in seen:
                raise VCFError(f"{name}: lines {seen[key]} and {line} both label {key[0]}:{key[1]} {key[2]}>{key[3]}; "
                               "label each variant once (a repeated variant would sit in training and test folds)")
            seen[key] = line
            rows.append(row)
    except StopIteration:
        raise VCFError(f"{name}: the file is empty; expected {_FORMAT}") from None
    except csv.Error as e:
        raise VCFError(f"{name}, line {reader.line_num}: not a readable TSV ({e})") from None
    if not rows:
        raise VCFError(f"{name}: no labelled variants below the header")
    return rows


def labels_by_variant(rows: Iterable[dict[str, Any]]) -> dict[VariantKey, int]:
    """0/1 label of each row of :func:`read_labelled_variants`, keyed by (chrom, pos, REF, ALT)
    with the alleles upper-cased.

    >>> labels_by_variant([{"chrom": "c", "pos": 5, "ref": "a", "alt": "G", "label": 1}])
    {('c', 5, 'A', 'G'): 1}
    """
    return {
        (str(r["chrom"]), int(r["pos"]), str(r["ref"]).upper(), str(r["alt"]).upper()): int(r["label"]) for r in rows
    }
