"""Genomamba models: config, Mamba LM (causal / bidirectional / RC-equivariant / hybrid), state."""

from genomamba.models.config import GenomambaConfig
from genomamba.models.model import GenomambaLM, GenomambaOutput, GenomambaState

__all__ = ["GenomambaConfig", "GenomambaLM", "GenomambaOutput", "GenomambaState"]
