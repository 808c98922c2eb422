"""genomamba: genomic sequence modelling with selective state-space (Mamba) models."""

from genomamba._version import __version__
from genomamba.errors import GenomambaError

__all__ = ["__version__", "GenomambaError"]
