"""Where a model lives: a shipped model's name, a save_pretrained directory, a training run
directory or a Lightning ``.ckpt`` (:func:`resolve_model_path`).

Imports nothing heavy (no torch), so a command checks its model argument, and answers a wrong
path in a fraction of a second, before it loads torch; :mod:`genomamba.models.checkpoint` reads
the files found here.
"""

from __future__ import annotations

import os
from pathlib import Path

from genomamba.errors import CheckpointError

__all__ = ["CONFIG_NAME", "PRETRAINED_DIR", "model_help", "pretrained_names", "resolve_model_path"]

CONFIG_NAME = "config.json"

# Models shipped inside the package, loadable by name (``genomamba.load("<name>")``,
# ``--model <name>``, ``model.path=<name>``): one save_pretrained directory per name, with a
# MODEL_CARD.md beside the weights.
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"


def pretrained_names() -> list[str]:
    """Names of the models shipped with genomamba (folders of ``genomamba/pretrained/``)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / CONFIG_NAME).is_file())


def model_help(what: str = "model") -> str:
    """The ``--help`` text of a command's model argument: every form it takes, shipped names included."""
    names = pretrained_names()
    shipped = f"or a shipped model's name ({', '.join(names)})" if names else "or a shipped model's name"
    return f"{what}: a save_pretrained directory, a training run directory, a Lightning .ckpt {shipped}"


def resolve_model_path(path_or_name: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """Where a model lives: ``(a .ckpt file or a save_pretrained directory, its run directory)``.

    Accepts a save_pretrained directory, a training run directory (``model/`` or
    ``checkpoints/last.ckpt`` inside), a Lightning ``.ckpt`` file, or the name of a shipped
    model (:func:`pretrained_names`); a path on disk wins over a name. The run directory is
    ``None`` for shipped models.

    Raises:
        CheckpointError: nothing of the kind at ``path_or_name``; the message lists the shipped names.
    """
    if not isinstance(path_or_name, str | os.PathLike) or not str(path_or_name):
        raise CheckpointError(
            f"a model is a save_pretrained directory, a run directory, a .ckpt or a shipped model name "
            f"({', '.join(pretrained_names()) or 'none shipped'}); got {path_or_name!r}"
        )
    p = Path(path_or_name).expanduser()
    if not p.exists():
        if str(path_or_name) in pretrained_names():
            return PRETRAINED_DIR / str(path_or_name), None
        names = pretrained_names()
        raise CheckpointError(
            f"model not found: {p} (expected a model/ directory, a run directory, a .ckpt"
            + (f", or a shipped model name: {', '.join(names)})" if names else ")")
        )
    if p.is_file():
        return p, p.parent.parent
    if (p / CONFIG_NAME).is_file():
        return p, p.parent
    if (p / "model" / CONFIG_NAME).is_file():
        return p / "model", p
    if (p / "checkpoints" / "last.ckpt").is_file():
        return p / "checkpoints" / "last.ckpt", p
    raise CheckpointError(f"{p} holds neither config.json, model/ nor checkpoints/last.ckpt")
