"""Silence messages from dependencies that a genomamba user cannot act on, and keep the rest short.

Each entry names what it hides and why; anything else (real warnings, errors) still shows, as one
line without the absolute path of a file in site-packages. An unexpected exception (a bug) is one
line too, with its traceback written to a file (:func:`crash_line`). Applied by the command-line
entry points only, never on import of the library.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import traceback
import warnings
from pathlib import Path

# Python warnings raised inside dependencies.
_WARNINGS = (
    # torch.utils._pytree deprecation raised by Lightning's own pytree helper, not by our code.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",
    # Lightning's hint to wrap the command in `srun` whenever a SLURM client is installed; under a
    # SLURM job it detects the environment itself, and outside one the hint does not apply.
    r"The `srun` command is available on your system but is not used",
    # ModelCheckpoint's notice on resume (`ckpt_path=last`): the run directory holds checkpoints
    # because it is being resumed; a fresh run into such a directory is refused before training.
    r"Checkpoint directory .* exists and is not empty",
    # fit_loop's notice that an epoch has fewer batches than log_every_n_steps. genomamba's epochs
    # are a number of drawn windows (train_samples_per_epoch) and Lightning counts the logging
    # interval in optimiser steps across epochs, so every log_every_n_steps-th step is logged anyway.
    r"The number of training batches \(\d+\) is smaller than the logging interval",
)

# Log records from Lightning's loggers.
_LOG_MESSAGES = re.compile(
    "|".join(
        (
            r"💡 Tip: For seamless cloud logging",  # advertises a hosted service
            r"`weights_only` was not set",  # our checkpoints are written by our own trainer
            # The Trainer's hardware banner (GPU / TPU / HPU available: ..., used: ...) at every
            # start: the accelerator is what trainer=cpu|gpu|ddp asked for, and the banner's
            # "available: False" lines for hardware no genomamba run uses are noise.
            r"^(GPU|TPU|HPU|IPU|MPS) available: ",
            # The end of a run that reached the trainer.max_steps it was given; the last step line
            # ("step 300/300 ...") already says so.
            r"^`Trainer.fit` stopped: `max_steps=\d+` reached",
        )
    )
)


class _DropMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _LOG_MESSAGES.search(record.getMessage())


_FILTER = _DropMessages()
_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.pytorch.trainer.connectors.checkpoint_connector",
    "lightning.fabric.utilities.rank_zero",
)


def _origin(filename: str) -> str:
    """The package a warning comes from (``lightning``), not the absolute path of its file."""
    parts = Path(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            return parts[parts.index(marker) + 1]
    return "genomamba" if "genomamba" in parts else Path(filename).name


def format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None) -> str:
    """``warnings.formatwarning`` for the CLI: one line naming the warning and its package."""
    text = " ".join(str(message).split())
    return f"warning: {text} [{category.__name__}, {_origin(filename)}]\n"


def crash_line(e: BaseException) -> str:
    """One line for an unexpected exception (a bug, not bad input): its type and message, and the
    file its full traceback was written to, for the bug report. ``GENOMAMBA_DEBUG=1`` makes the
    entry points re-raise instead."""
    try:
        fd, path = tempfile.mkstemp(prefix="genomamba-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            traceback.print_exception(e, file=fh)
        where = f"traceback in {path}"
    except OSError:
        where = "rerun with GENOMAMBA_DEBUG=1 for the traceback"
    first = (str(e).strip().splitlines() or [""])[0][:300]
    return (f"genomamba: internal error: {type(e).__name__}: {first} ({where}; please report it at the genomamba "
            "issue tracker)")


def debugging() -> bool:
    """True when ``GENOMAMBA_DEBUG`` asks for full tracebacks."""
    return os.environ.get("GENOMAMBA_DEBUG", "") not in ("", "0")


def silence_dependency_noise() -> None:
    """Install the warning and log filters above and the one-line warning format (idempotent)."""
    warnings.formatwarning = format_warning
    for pattern in _WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
