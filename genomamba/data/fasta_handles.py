"""The per-process pool of open pyfaidx handles (:data:`OPEN_FASTAS`)."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable

import pyfaidx

__all__ = ["OPEN_FASTAS"]


class _OpenFastas:
    """The pyfaidx handles open in this process: at most ``max_open``, least recently used closed first.

    A corpus of thousands of genome files would otherwise keep one descriptor per file in the
    main process and in every DataLoader worker, and stop at the open-file limit (often 1024).
    Handles are keyed by FASTA and index path (files opened twice share one), re-opened on
    demand, and forgotten after a fork: an inherited handle shares its file offset with the
    parent. ``GENOMAMBA_MAX_OPEN_FASTA`` sets the bound (default 128).
    """

    def __init__(self, max_open: int) -> None:
        self.max_open = max(1, int(max_open))
        self._pid = os.getpid()
        self._open: OrderedDict[tuple[str, str], pyfaidx.Faidx] = OrderedDict()

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            self._open = OrderedDict()  # the parent's handles: not ours to use (or close)
            self._pid = os.getpid()

    def get(self, key: tuple[str, str], opener: Callable[[], pyfaidx.Faidx]) -> pyfaidx.Faidx:
        self._check_pid()
        fa = self._open.get(key)
        if fa is None:
            fa = self.put(key, opener())
        else:
            self._open.move_to_end(key)
        return fa

    def put(self, key: tuple[str, str], fa: pyfaidx.Faidx) -> pyfaidx.Faidx:
        self._check_pid()
        old = self._open.pop(key, None)
        if old is not None and old is not fa:
            old.close()
        self._open[key] = fa
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)[1].close()
        return fa

    def close(self, key: tuple[str, str]) -> None:
        self._check_pid()
        fa = self._open.pop(key, None)
        if fa is not None:
            fa.close()

    def __len__(self) -> int:
        self._check_pid()
        return len(self._open)


OPEN_FASTAS = _OpenFastas(int(os.environ.get("GENOMAMBA_MAX_OPEN_FASTA", "128")))
