"""Checks of a command's file and model arguments, run right after argparse and before the
command imports torch (seconds): a wrong path answers at once, in the one-line form of every
genomamba error (the CLI prints ``genomamba: error: ...`` and exits 2).

They check only what can be known without reading the data: the file is there (and, for a FASTA,
that its first 64 KiB look like one); the command's own readers still check the rest.
"""

from __future__ import annotations

import os
from pathlib import Path

from genomamba.errors import ConfigError, FastaError, GenomambaError

__all__ = ["fasta_arg", "input_file", "model_arg"]


def input_file(
    path: str | os.PathLike[str] | None, option: str, what: str = "file", error: type[GenomambaError] = ConfigError,
    fix: str = "pass an existing file",
) -> Path | None:
    """``path`` as a Path when it is an existing file (None stays None); else ``error`` naming
    ``option``, the path and ``fix``."""
    if path is None:
        return None
    p = Path(path).expanduser()
    if p.is_dir():
        raise error(f"{option} {p} is a directory, not a {what}; give the path of the file inside it")
    if not p.is_file():
        raise error(f"{option} {p}: {what} not found (relative paths are taken from {Path.cwd()}); {fix}")
    return p


def fasta_arg(path: str | os.PathLike[str] | None, option: str = "--fasta") -> Path | None:
    """A FASTA argument checked by :func:`genomamba.data.fasta_format.validate_fasta` (there, not
    empty, FASTA or BGZF-compressed FASTA), the message prefixed with ``option``."""
    if path is None:
        return None
    from genomamba.data.fasta_format import validate_fasta

    try:
        return validate_fasta(path)[0]
    except FastaError as e:
        raise FastaError(f"{option}: {e}") from None


def model_arg(path_or_name: str | os.PathLike[str] | None, option: str = "--model") -> Path | None:
    """Where a model argument points (:func:`genomamba.models.locate.resolve_model_path`: a
    directory, a run, a .ckpt or a shipped name), the message prefixed with ``option``."""
    if path_or_name is None:
        return None
    from genomamba.models.locate import resolve_model_path

    try:
        return resolve_model_path(path_or_name)[0]
    except GenomambaError as e:
        raise type(e)(f"{option}: {e}") from None
