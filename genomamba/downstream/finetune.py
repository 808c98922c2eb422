"""Fine-tuning from a composed ``configs/finetune.yaml``: :func:`compose_finetune` and :func:`finetune`.

The pieces live one concern per module:

* :mod:`genomamba.downstream.species.datamodule`: :class:`SpeciesDataModule` (windows, splits);
* :mod:`genomamba.downstream.species.classifier`: :class:`SpeciesClassifier` (pooled head,
  loss, metrics, optimiser);
* :mod:`genomamba.downstream.finetune_tasks`: one runner per task, named by
  ``task.runner._target_`` in ``configs/task/<task>.yaml``.

The ``genomamba finetune`` command (Hydra app, preflight and summary line) is
:mod:`genomamba.apps.finetune`.

Example (needs a trained model, so not a doctest)::

    cfg = compose_finetune(["model.path=runs/tiny", "task=variant_effect"])
    metrics = finetune(cfg)
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from genomamba.outputs import hold_run_dir, is_launch_rank_zero, remove_failed_start

if TYPE_CHECKING:
    from genomamba.downstream.finetune_tasks import FinetuneTask
    from genomamba.downstream.species.classifier import SpeciesClassifier
    from genomamba.downstream.species.datamodule import SpeciesDataModule
    from genomamba.models.pooling import masked_mean

__all__ = [
    "FINETUNE_SCHEMAS",
    "SpeciesClassifier",
    "SpeciesDataModule",
    "compose_finetune",
    "finetune",
    "masked_mean",
    "register_finetune_schemas",
    "run_task",
    "task_runner",
]

# Imported on first use: composing and checking a finetune config needs neither torch nor Lightning.
_HOME = {
    "SpeciesClassifier": "genomamba.downstream.species.classifier",
    "SpeciesDataModule": "genomamba.downstream.species.datamodule",
    "masked_mean": "genomamba.models.pooling",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'genomamba.downstream.finetune' has no attribute {name!r}")


# The fine-tuning nodes whose keys come from a signature (genomamba.training.schema), as
# ConfigStore group -> (``_target_``, arguments passed in code).
FINETUNE_SCHEMAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "schema/species_data": ("genomamba.downstream.species.datamodule.SpeciesDataModule", ()),
    "schema/variant_effect": (
        "genomamba.downstream.variants.supervised.finetune_variant_effect", ("model", "variants_with_labels"),
    ),
    "schema/finetune": ("genomamba.downstream.species.classifier.SpeciesClassifier", ("label_names", "lm")),
}


def register_finetune_schemas() -> None:
    """Store ``schema/species_data``, ``schema/variant_effect`` and ``schema/finetune`` (keys and
    defaults read from the signatures, as :mod:`genomamba.training.schema` does for training),
    so any argument can be overridden from the command line and a typo fails; and the training
    schemas, since ``finetune.yaml`` uses ``schema/trainer`` too."""
    from genomamba.training.schema import register_schemas, register_signature_schemas

    register_schemas()
    register_signature_schemas(FINETUNE_SCHEMAS)


def compose_finetune(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``configs/finetune.yaml`` (packaged ``genomamba.configs``) with Hydra overrides."""
    from genomamba.training.compose import compose_config

    register_finetune_schemas()
    return compose_config(list(overrides), config_name="finetune")


def task_runner(cfg: DictConfig) -> FinetuneTask:
    """The runner ``cfg.task.runner`` names (``_target_``), instantiated with Hydra."""
    from hydra.utils import instantiate

    return instantiate(cfg.task.runner)


def run_task(runner: FinetuneTask, cfg: DictConfig) -> dict[str, Any]:
    """``runner.run(cfg)`` with the run directory held (:func:`~genomamba.outputs.hold_run_dir`)
    and, should the task fail, what it wrote there removed (a failed fine-tune cannot be
    resumed); launch rank 0 only, as in training."""
    run_dir = Path(cfg.run_dir).resolve()
    rank_zero = is_launch_rank_zero()
    with hold_run_dir(run_dir) if rank_zero else nullcontext(), remove_failed_start(run_dir) if rank_zero else nullcontext():
        return runner.run(cfg)


def finetune(cfg: DictConfig) -> dict[str, Any]:
    """Run the task of a composed ``finetune`` config; writes ``metrics.json`` into
    ``cfg.run_dir`` (plus the task's other outputs) and returns the metrics."""
    return run_task(task_runner(cfg), cfg)
