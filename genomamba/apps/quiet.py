"""Silence messages from dependencies that a genomamba user cannot act on.

Each entry names what it hides and why; anything else (real warnings, errors) still shows.
Applied by the command-line entry points only, never on import of the library.
"""

from __future__ import annotations

import logging
import re
import warnings

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


def silence_dependency_noise() -> None:
    """Install the warning and log filters above (idempotent)."""
    for pattern in _WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
