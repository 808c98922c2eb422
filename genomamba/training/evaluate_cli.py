"""Deprecated module path, kept for one release: use :mod:`genomamba.training.evaluate` and
:func:`genomamba.models.checkpoint.load_model` (or ``GenomambaLM.load``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from genomamba.models import GenomambaLM
from genomamba.models.checkpoint import load_model as _load_model
from genomamba.training.evaluate import evaluate_model as _evaluate_model

_WHERE = "genomamba.training.evaluate_cli is deprecated and will be removed in the next release; "


def load_model(path: str | Path) -> tuple[GenomambaLM, dict[str, Any]]:
    """Deprecated: ``genomamba.models.checkpoint.load_model(GenomambaLM, path)``."""
    warnings.warn(_WHERE + "use genomamba.models.checkpoint.load_model(GenomambaLM, path)", DeprecationWarning, 2)
    return _load_model(GenomambaLM, path)


def evaluate_model(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Deprecated: ``genomamba.training.evaluate.evaluate_model``."""
    warnings.warn(_WHERE + "use genomamba.training.evaluate.evaluate_model", DeprecationWarning, 2)
    return _evaluate_model(*args, **kwargs)
