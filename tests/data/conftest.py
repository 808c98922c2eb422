"""Helpers for the data tests: tiny synthetic FASTA files written to tmp_path.

The sequences here are random test fixtures, not real genomes (those live in data/genomes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from data_helpers import write_fasta


@pytest.fixture
def make_fasta(tmp_path: Path) -> Callable[..., Path]:
    def _make(records: dict[str, str], name: str = "toy.fa", width: int = 60) -> Path:
        return write_fasta(tmp_path / name, records, width)

    return _make


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Never touch the user's ~/.cache from tests.
    cache = tmp_path_factory.mktemp("genomamba_cache")
    monkeypatch.setenv("GENOMAMBA_CACHE", str(cache))
    return cache
