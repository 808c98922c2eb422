"""Progress of the long loops (scoring, embedding, evaluation, gene calls, alignments).

On a terminal a Rich bar with counts, elapsed time and an ETA, drawn on stderr and erased when
the loop ends; on a pipe or a file nothing at all, so logs and captured output stay clean. Loops
nest: a loop started inside another adds its own line to the bar already shown (Rich shows one
live display at a time). Commands close with :func:`done_line`: counts and wall time, on a
terminal and on a pipe alike.

    >>> with progress(3, "scoring", unit="windows", enabled=False) as advance:
    ...     for _ in range(3):
    ...         advance(1)
    >>> done_line("scored 3 variants", 75.2)
    'scored 3 variants in 1m15s'
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["done_line", "format_duration", "progress", "shows_progress"]

# The Rich display of the outermost active loop, shared with the loops nested in it.
_ACTIVE: list[Any] = []


def shows_progress(stream: IO[str] | None = None) -> bool:
    """True when ``stream`` (default stderr) is a terminal: only then is a bar drawn."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced by an object without isatty
        return False


@contextmanager
def progress(
    total: int | None, description: str, unit: str = "", enabled: bool = True, stream: IO[str] | None = None,
) -> Iterator[Callable[[int], None]]:
    """A callback ``advance(n)`` for a loop of ``total`` units; draws a bar while the loop runs.

    Args:
        total: units of work (windows, variants, genes ...); ``None`` when unknown (a bar that
            pulses, with the elapsed time).
        description: what the loop does, shown left of the bar ("scoring variants").
        unit: the counted unit, shown after the counts.
        enabled: False draws nothing even on a terminal (the API's ``progress=False``).
        stream: where to draw (default stderr); a bar is drawn only if it is a terminal.
    """
    if not enabled or (total is not None and total <= 0) or not shows_progress(stream):
        yield _no_op
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if _ACTIVE:  # nested in a loop that already shows a bar: one more line in it
        bar = _ACTIVE[-1]
        task = bar.add_task(description, total=total, unit=unit)
        try:
            yield lambda n: bar.advance(task, n)
        finally:
            bar.remove_task(task)
        return
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=stream or sys.stderr), transient=True) as bar:
        _ACTIVE.append(bar)
        try:
            task = bar.add_task(description, total=total, unit=unit)
            yield lambda n: bar.advance(task, n)
        finally:
            _ACTIVE.pop()


def _no_op(n: int) -> None:
    return None


def format_duration(seconds: float) -> str:
    """``4.2s``, ``1m15s``, ``2h03m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def done_line(what: str, seconds: float) -> str:
    """A command's closing line: what it did (with its counts) and how long it took."""
    return f"{what} in {format_duration(seconds)}"
