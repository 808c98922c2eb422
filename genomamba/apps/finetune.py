"""The Hydra application behind ``genomamba finetune`` (``configs/finetune.yaml``).

``main(argv)`` is what the ``genomamba`` dispatcher calls: a preflight composes the overrides
and checks the task's inputs *before* Hydra creates the run directory (one
``genomamba: error:`` line and exit code 2 otherwise), then the ``@hydra.main`` app runs the
task (:func:`genomamba.downstream.finetune.task_runner`) and prints its summary line. Kept
runnable as a script for the same reason as :mod:`genomamba.apps.train` (Lightning's DDP
launcher re-runs ``sys.argv[0]``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import hydra
from omegaconf import DictConfig

from genomamba.apps.hydra_app import app_help, preflight_error, run_hydra_main, wants_help
from genomamba.apps.quiet import silence_dependency_noise
from genomamba.downstream.finetune import compose_finetune, register_finetune_schemas, task_runner
from genomamba.errors import GenomambaError

register_finetune_schemas()


def preflight(overrides: Sequence[str]) -> str | None:
    """Compose ``overrides`` and check the task's inputs (model path, labels ...) before Hydra
    creates the run directory. Returns a one-line error message, or None when the task may
    start. Hydra's own flags (``--help``, ``--cfg`` ...) are left to Hydra."""

    def check() -> None:
        cfg = compose_finetune(overrides)
        task_runner(cfg).check(cfg)

    return preflight_error("finetune", overrides, check)


@hydra.main(version_base="1.3", config_path="pkg://genomamba.configs", config_name="finetune")
def hydra_main(cfg: DictConfig) -> None:
    silence_dependency_noise()
    runner = task_runner(cfg)
    try:
        metrics = runner.run(cfg)
    except GenomambaError as e:
        # SystemExit is not caught by Hydra's error reporting: one line, no traceback.
        print(f"genomamba: error: {e}", file=sys.stderr)
        sys.exit(2)
    print(runner.summary(metrics), flush=True)


def main(argv: Sequence[str]) -> int:
    """``genomamba finetune [overrides]``; returns the exit code."""
    if wants_help(argv):
        return app_help("finetune", argv, compose_finetune)
    problem = preflight(argv)
    if problem is not None:
        print(f"genomamba: error: {problem}", file=sys.stderr)
        return 2
    try:
        run_hydra_main(__file__, hydra_main, argv)
    except SystemExit as e:  # Hydra's --help / --cfg, or the app's error exit
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    return 0


if __name__ == "__main__":
    hydra_main()
