"""Fixture for the Snakemake workflow tests: a tiny untrained model saved with the public API."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer, d_model=32 causal model saved with the public API."""
    import genomamba

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_model") / "model"
    genomamba.GenomambaLM(genomamba.GenomambaConfig(d_model=32, n_layer=2)).save_pretrained(path)
    return path
