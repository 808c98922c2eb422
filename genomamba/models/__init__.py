"""Genomamba models: config, Mamba LM (causal / bidirectional / RC-equivariant / hybrid), state.

Names are imported on first use: ``genomamba.models.GenomambaConfig`` (what the Hydra configs
instantiate) and :mod:`genomamba.models.locate` do not pull in torch, so the command line checks
its config and model arguments before it loads torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genomamba.models.config import GenomambaConfig
    from genomamba.models.model import GenomambaLM, GenomambaOutput, GenomambaState

_HOME = {
    "GenomambaConfig": "config",
    "GenomambaLM": "model",
    "GenomambaOutput": "model",
    "GenomambaState": "model",
}

__all__ = ["GenomambaConfig", "GenomambaLM", "GenomambaOutput", "GenomambaState"]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"genomamba.models.{_HOME[name]}"), name)
    raise AttributeError(f"module 'genomamba.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
