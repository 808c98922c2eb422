"""genomamba: genomic sequence modelling with selective state-space (Mamba) models.

>>> import genomamba
>>> model = genomamba.load("runs/demo/model")            # doctest: +SKIP
>>> model.embed(["ACGTACGT", "GGCCAATT"]).shape          # doctest: +SKIP
(2, 64)

``load`` (and the heavy torch/Lightning imports behind it) is imported on first use, so
``import genomamba`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from genomamba._version import __version__
from genomamba.errors import GenomambaError

__all__ = ["__version__", "GenomambaError", "load", "GenomambaConfig", "GenomambaLM"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from genomamba.api import load

        return load
    if name in ("GenomambaConfig", "GenomambaLM"):
        from genomamba import models

        return getattr(models, name)
    raise AttributeError(f"module 'genomamba' has no attribute {name!r}")
