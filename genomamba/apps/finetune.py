"""The Hydra application behind ``genomamba finetune`` (``configs/finetune.yaml``).

``main(argv)`` is what the ``genomamba`` dispatcher calls: the preflight shared by every Hydra
app (:func:`genomamba.apps.hydra_app.prepared_run`) composes the overrides, holds the run
directory and checks the task's inputs *before* Hydra writes anything (one ``genomamba: error:``
line and exit code 2 otherwise), then the ``@hydra.main`` app runs the task
(:func:`genomamba.downstream.finetune.run_task`) and prints its summary line. Kept
runnable as a script for the same reason as :mod:`genomamba.apps.train` (Lightning's DDP
launcher re-runs ``sys.argv[0]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import hydra
from omegaconf import DictConfig

from genomamba.apps.hydra_app import app_errors, run_app
from genomamba.apps.quiet import silence_dependency_noise
from genomamba.downstream.finetune import compose_finetune, register_finetune_schemas, run_task, task_runner

register_finetune_schemas()


def check_finetune(cfg: DictConfig) -> None:
    """The task's checks of a composed config (model path, labels, FASTA, trainer and optimiser
    settings, outputs), run before Hydra writes anything."""
    task_runner(cfg).check(cfg)


@hydra.main(version_base="1.3", config_path="pkg://genomamba.configs", config_name="finetune")
def hydra_main(cfg: DictConfig) -> None:
    silence_dependency_noise()
    with app_errors():
        runner = task_runner(cfg)
        metrics = run_task(runner, cfg)
    print(runner.summary(metrics), flush=True)


def main(argv: Sequence[str]) -> int:
    """``genomamba finetune [overrides]``; returns the exit code (GenomambaError from the
    preflight: the dispatcher prints it, exit 2)."""
    return run_app("finetune", argv, compose_finetune, check_finetune, __file__, hydra_main)


if __name__ == "__main__":
    hydra_main()
