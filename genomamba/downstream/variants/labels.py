"""The labelled-variant TSV: one home for reading it, used by the CLI, the supervised head,
the benchmarks and the Snakemake workflow.

Format: a tab-separated header with chrom, pos (1-based), ref, alt, label (0/1), optional bin
and any other columns (kept as text), then one row per variant.
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


def read_labelled_variants(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a labelled-variant TSV: header with chrom, pos (1-based), ref, alt, label (0/1),
    optional bin (e.g. a distance or substitution class) and any other columns (kept as text).

    Raises:
        VCFError: missing file or column, or a row whose pos/label is not an integer /
            label not 0 or 1, naming the file and line.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VCFError(f"labelled variants file {path} not found; pass an existing TSV (task.labels=...)")
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise VCFError(f"{path}: not a UTF-8 text TSV ({e.reason} at byte {e.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
    rows: list[dict[str, Any]] = []
    try:
        missing = [c for c in _LABEL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise VCFError(
                f"{path}: header lacks column(s) {missing}; a tab-separated header with "
                f"{', '.join(_LABEL_COLUMNS)} (and optional bin) is required"
            )
        for row in reader:
            line = reader.line_num
            empty = [c for c in _LABEL_COLUMNS if not row.get(c)]
            if empty:
                raise VCFError(f"{path}, line {line}: empty or missing column(s) {empty}; every row needs {', '.join(_LABEL_COLUMNS)}")
            try:
                row["pos"], row["label"] = int(row["pos"]), int(row["label"])
            except (TypeError, ValueError):
                raise VCFError(
                    f"{path}, line {line}: pos {row['pos']!r} and label {row['label']!r} must be integers"
                ) from None
            if row["label"] not in (0, 1) or row["pos"] < 1:
                raise VCFError(f"{path}, line {line}: label must be 0 or 1 and pos >= 1 (got {row['label']}, {row['pos']})")
            rows.append(row)
    except csv.Error as e:
        raise VCFError(f"{path}, line {reader.line_num}: not a readable TSV ({e})") from None
    if not rows:
        raise VCFError(f"{path}: no labelled variants below the header")
    return rows


def labels_by_variant(rows: Iterable[dict[str, Any]]) -> dict[VariantKey, int]:
    """0/1 label of each row of :func:`read_labelled_variants`, keyed by (chrom, pos, REF, ALT)
    with the alleles upper-cased (a later row with the same key wins).

    >>> labels_by_variant([{"chrom": "c", "pos": 5, "ref": "a", "alt": "G", "label": 1}])
    {('c', 5, 'A', 'G'): 1}
    """
    return {
        (str(r["chrom"]), int(r["pos"]), str(r["ref"]).upper(), str(r["alt"]).upper()): int(r["label"]) for r in rows
    }
