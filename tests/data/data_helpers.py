"""Tiny synthetic FASTA writers for the data tests (random fixtures, not real genomes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def random_dna(n: int, seed: int = 0, alphabet: str = "ACGT") -> str:
    rng = np.random.default_rng(seed)
    return "".join(np.array(list(alphabet))[rng.integers(len(alphabet), size=n)])


def write_fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name} synthetic test record\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    return path
