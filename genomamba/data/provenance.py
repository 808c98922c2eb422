"""What sequence a model was trained on, so that later evaluations can prove they are held out.

``genomamba train`` saves, beside the weights, a *training-data record*: for every FASTA record
that training windows were cut from, the FASTA file name, the record name and length, the
SHA-256 of its upper-case sequence, and the intervals (0-based, half-open) the training windows
came from. Evaluations that claim "held out" (``genomamba evaluate``, the species probe and
workflow, the gene variant benchmark) call :func:`check_held_out` with their test intervals: by
default any overlap is an error, because a "held-out" figure on sequence the model was trained on
is not held out.

Records are matched by sequence digest, not by path or name: a moved, renamed or re-compressed
FASTA still matches, and a different genome with a record of the same name does not.

Record format (``training_data.json``)::

    {"format": 1, "records": [{"fasta": "escherichia_coli_536.fa.gz", "record": "...",
      "length": 4938920, "sha256": "...", "intervals": [[0, 4691974]]}, ...]}
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import Interval, merge
from genomamba.errors import ConfigError

__all__ = [
    "RECORD_FORMAT", "check_held_out", "describe_held_out", "describe_training_data", "merge_training_records",
    "seen_overlap", "sequence_digest",
]

RECORD_FORMAT = 1
_CHUNK = 1 << 22  # 4 Mb per fetch keeps memory flat on long chromosomes


def sequence_digest(genome: GenomeFile, record: str) -> str:
    """SHA-256 (hex) of the upper-case sequence of ``record`` (case is soft-masking, not sequence)."""
    h = hashlib.sha256()
    n = genome.lengths[record]
    for start in range(0, n, _CHUNK):
        h.update(genome.fetch(record, start, min(n, start + _CHUNK)).upper().encode("ascii"))
    return h.hexdigest()


def describe_training_data(files: Sequence[GenomeFile], intervals: Sequence[Sequence[Interval]]) -> dict[str, Any]:
    """The training-data record of windows cut from ``intervals[i]`` of ``files[i]`` (see module doc)."""
    records = []
    for f, ivs in zip(files, intervals, strict=True):
        by_record: dict[str, list[Interval]] = {}
        for iv in ivs:
            by_record.setdefault(iv.contig, []).append(iv)
        for record, parts in by_record.items():
            records.append({
                "fasta": f.path.name, "record": record, "length": f.lengths[record],
                "sha256": sequence_digest(f, record),
                "intervals": [[iv.start, iv.end] for iv in merge(parts)],
            })
    return {"format": RECORD_FORMAT, "records": records}


def merge_training_records(first: Mapping[str, Any] | None, then: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The record of a model trained on ``first``'s data and then on ``then``'s (fine-tuning from a
    saved model): both records' entries; None when either is unknown, since then so is the union."""
    if first is None or then is None:
        return None
    return {"format": RECORD_FORMAT, "records": [*first.get("records", []), *then.get("records", [])]}


def seen_overlap(
    training_data: Mapping[str, Any], tests: Iterable[tuple[GenomeFile, Sequence[Interval]]]
) -> dict[str, tuple[int, int]]:
    """How many bases of each genome's test intervals lie inside the model's training intervals.

    Args:
        training_data: a training-data record (see module doc).
        tests: ``(genome, its test intervals)`` pairs, intervals in the genome's record names.

    Returns:
        ``{genome name: (bases trained on, bases tested)}`` for every genome in ``tests``.
    """
    parts: dict[tuple[str, int], list[Interval]] = {}
    for r in training_data.get("records", []):
        parts.setdefault((r["sha256"], int(r["length"])), []).extend(Interval("", int(s), int(e)) for s, e in r["intervals"])
    # one genome listed twice in training must not count its bases twice
    trained = {key: merge(ivs) for key, ivs in parts.items()}
    lengths = {length for _, length in trained}
    out: dict[str, tuple[int, int]] = {}
    digests: dict[tuple[str, str], str] = {}
    for genome, ivs in tests:
        seen, tested = out.get(genome.name, (0, 0))
        for iv in merge(ivs):
            tested += iv.length
            n = genome.lengths[iv.contig]
            if n not in lengths:  # no trained record has this length: no need to hash it
                continue
            key = (str(genome.path), iv.contig)
            if key not in digests:
                digests[key] = sequence_digest(genome, iv.contig)
            for t in trained.get((digests[key], n), []):
                seen += max(0, min(t.end, iv.end) - max(t.start, iv.start))
        out[genome.name] = (seen, tested)
    return out


def check_held_out(
    model: Any, tests: Iterable[tuple[GenomeFile, Sequence[Interval]]], what: str, fix: str, allow_seen: bool = False
) -> dict[str, Any]:
    """Compare test intervals with the model's training-data record.

    Args:
        model: a ``GenomambaLM`` (its ``training_data`` attribute is read; None = not recorded),
            or None for baselines only.
        tests: ``(genome, test intervals)`` pairs.
        what: the evaluation, for the message (e.g. ``"species probe"``).
        fix: how to choose held-out sequence instead (the error message ends with it).
        allow_seen: measure anyway; overlapping genomes are reported (and warned about), not refused.

    Returns:
        ``{"recorded": bool, "seen_bp": {genome: bases trained on}, "test_bp": {genome: bases}}``
        (only genomes with an overlap in ``seen_bp``), for the evaluation's report.

    Raises:
        ConfigError: some test bases were trained on and ``allow_seen`` is False.
    """
    record = getattr(model, "training_data", None)
    if record is None:
        return {"recorded": False, "seen_bp": {}, "test_bp": {}}
    overlap = seen_overlap(record, tests)
    seen = {name: s for name, (s, _) in overlap.items() if s}
    report = {"recorded": True, "seen_bp": seen, "test_bp": {name: t for name, (_, t) in overlap.items()}}
    if seen:
        parts = "; ".join(f"{name}: {s:,} of {overlap[name][1]:,} bp" for name, s in seen.items())
        msg = f"{what}: test sequence the model was trained on ({parts}), so it is not held out"
        if not allow_seen:
            raise ConfigError(f"{msg}; {fix}, or pass allow_seen=True to measure it anyway (the report says so)")
        warnings.warn(msg, stacklevel=3)
    return report


def describe_held_out(report: dict[str, Any] | None) -> str:
    """One line for reports from :func:`check_held_out`'s result."""
    if not report or not report.get("recorded"):
        return "pretraining overlap: not checked (the model records no training data)"
    seen = report.get("seen_bp") or {}
    if not seen:
        return "pretraining overlap: none (checked against the model's training-data record)"
    parts = "; ".join(f"{name} {bp:,} of {report['test_bp'].get(name, 0):,} bp" for name, bp in seen.items())
    return f"pretraining overlap: NOT held out, the model was trained on part of the test sequence ({parts})"
