"""The Hydra application behind ``genomamba train`` (configs shipped in ``genomamba.configs``).

Kept as its own module (runnable as a script) because Lightning's DDP launcher restarts
``sys.argv[0]`` with the same overrides for every extra local rank.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from genomamba.apps.hydra_app import app_errors, run_app
from genomamba.apps.quiet import silence_dependency_noise
from genomamba.errors import ConfigError, GenomambaError
from genomamba.training.schema import register_schemas

register_schemas()


def format_summary(metrics: dict[str, Any], seconds: float, fasta: Any = None, track: Any = None) -> str:
    """What a person wants after training: the held-out figure beside the Markov baselines, where
    the outputs are, how long it took and what to run next."""
    from genomamba.training.evaluation import format_heldout_report

    run_dir = Path(metrics["run_dir"])
    try:
        shown = run_dir.relative_to(Path.cwd())
    except ValueError:
        shown = run_dir
    minutes, secs = divmod(int(round(seconds)), 60)
    return "\n".join(
        [
            format_heldout_report(metrics),
            f"run directory: {shown} ({metrics['train']['global_step']} steps, "
            f"{metrics['train']['n_parameters']:,} parameters, wall time {minutes}m{secs:02d}s)",
            "next:",
            f"  genomamba evaluate {shown} --fasta {fasta if isinstance(fasta, str) else '<FASTA>'}"
            + (f" --track {track if isinstance(track, str) else '<TRACK>'}" if metrics.get("relative_track") else ""),
            f"  python -c \"import genomamba; print(genomamba.load('{shown}').embed(['ACGT' * 64]).shape)\"",
        ]
    )
def check_training(cfg: DictConfig) -> None:
    """The checks of a composed training config that need no data loading, run before anything
    is written (:func:`~genomamba.apps.hydra_app.prepared_run`): model and optimiser settings,
    trainer limits, input files, outputs that would overwrite an input, the resume checkpoint.
    ``genomamba train`` and ``genomamba demo`` share them."""
    from genomamba.training.optimizer_settings import check_optimizer_settings
    from genomamba.training.train import (
        check_fasta,
        check_init_from,
        check_run_outputs,
        check_track,
        check_trainer_settings,
        instantiate_config,
        resolve_ckpt_path,
    )

    try:  # GenomambaConfig checks its values (model.d_model=0, model.rope_periods=[1] ...)
        instantiate_config(cfg.model)
    except GenomambaError as e:
        raise ConfigError(f"model: {e} (fix the model.* override)") from None
    run_dir = Path(cfg.run_dir).resolve()
    check_optimizer_settings(cfg.module, prefix="module.")
    check_trainer_settings(cfg.trainer)
    check_fasta(cfg)
    check_track(cfg)
    check_run_outputs(cfg, run_dir)
    check_init_from(cfg)
    resolve_ckpt_path(cfg.ckpt_path, run_dir)


def preflight(overrides: Sequence[str]) -> str | None:
    """``genomamba train``'s checks of ``overrides`` (:func:`check_training`) without running it,
    as a workflow's dry run makes them: the one-line message of the first problem, or None."""
    from genomamba.apps.hydra_app import config_errors
    from genomamba.training.compose import compose_config

    try:
        with config_errors("train"):
            check_training(compose_config(list(overrides)))
    except GenomambaError as e:
        return str(e)
    return None


def run(argv: Sequence[str]) -> int:
    """``genomamba train [overrides]``: the preflight, then the app, with the run directory held;
    returns the exit code (GenomambaError from the preflight: the dispatcher prints it, exit 2)."""
    from genomamba.training.compose import compose_config

    return run_app("train", argv, compose_config, check_training, __file__, main)


@hydra.main(version_base="1.3", config_path="pkg://genomamba.configs", config_name="train")
def main(cfg: DictConfig) -> None:
    from genomamba.training.train import TrainingInterrupted, train

    silence_dependency_noise()
    start = time.perf_counter()
    with app_errors():
        try:
            metrics = train(cfg)
        except TrainingInterrupted as e:
            print(f"genomamba: {e}", file=sys.stderr)
            sys.exit(e.exit_code)
    if metrics:  # global rank 0
        fasta = OmegaConf.select(cfg, "data.fasta", default=None)
        track = OmegaConf.select(cfg, "data.track_fasta", default=None)
        print(format_summary(metrics, time.perf_counter() - start, fasta, track), flush=True)


if __name__ == "__main__":
    main()
