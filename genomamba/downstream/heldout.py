"""Check that an evaluation's test sequence is held out from the model's training sequence.

Models trained with ``genomamba train`` carry a training-data record (what the training windows
were cut from; :mod:`genomamba.data.provenance`). Evaluations that report held-out figures call
:func:`check_held_out` with their test intervals: by default any overlap is an error, because a
"held-out" accuracy on sequence the model was trained on is not held out.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import Interval
from genomamba.data.provenance import seen_overlap
from genomamba.errors import ConfigError

__all__ = ["check_held_out", "describe_held_out"]


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
