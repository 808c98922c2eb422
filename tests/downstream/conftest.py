"""Fixtures for the downstream tests: tiny random models and small FASTA files (session scope)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genomamba.api import GenomambaModel
from genomamba.models import GenomambaConfig, GenomambaLM

REPO_ROOT = Path(__file__).resolve().parents[2]
SPECIES_TSV = REPO_ROOT / "data" / "species.tsv"


def random_dna(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


def tiny_model(seed: int = 0, **kw) -> GenomambaModel:
    torch.manual_seed(seed)
    cfg = GenomambaConfig(**{"d_model": 16, "n_layer": 2, **kw})
    return GenomambaModel(GenomambaLM(cfg), device="cpu")


@pytest.fixture(scope="session")
def causal_model() -> GenomambaModel:
    return tiny_model()


@pytest.fixture(scope="session")
def rc_model() -> GenomambaModel:
    return tiny_model(rc_equivariant=True)


@pytest.fixture(scope="session")
def species_tsv() -> Path:
    assert SPECIES_TSV.is_file(), f"bundled species table missing: {SPECIES_TSV}"
    return SPECIES_TSV
