"""Project exception hierarchy.

Every error a user can cause with bad input raises a subclass of :class:`GenomambaError`
whose message names the offending file / record / line and says how to fix it. The CLI
catches ``GenomambaError`` and prints only the message (no traceback).
"""

from __future__ import annotations


class GenomambaError(Exception):
    """Base class for all user-facing genomamba errors."""


class FastaError(GenomambaError):
    """A FASTA file is missing, malformed, empty, unindexable or otherwise unusable."""


class SequenceError(GenomambaError):
    """A sequence contains characters that are not nucleotides / IUPAC codes."""


class WindowError(GenomambaError):
    """A requested window cannot be cut from the sequence (too long, all-N, out of bounds)."""


class ContigError(WindowError):
    """A contig name is not a record of the FASTA, or is an accession alias of several records."""


class ConfigError(GenomambaError):
    """A configuration value is missing or invalid."""


class CheckpointError(GenomambaError):
    """A checkpoint is missing, corrupt or does not match the model configuration."""


class VCFError(GenomambaError):
    """A VCF file or record is malformed or inconsistent with the reference."""


class KernelInputError(GenomambaError, ValueError):
    """Inputs to the selective-scan kernels have mismatched shapes, dtypes or devices."""


class ModelInputError(GenomambaError, ValueError):
    """Model inputs are malformed (token ids out of range, mask not right-padded, batch mismatch)."""
