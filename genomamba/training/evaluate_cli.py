"""``genomamba evaluate MODEL --fasta F``: held-out bits per base next to Markov baselines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from genomamba.errors import ConfigError, FastaError
from genomamba.models.checkpoint import resolve_model_path
from genomamba.training.evaluation import evaluate_heldout, heldout_windows, training_sequences

DEFAULT_MAX_WINDOWS = 256
_SPLIT_KEYS = ("window_length", "val_fraction", "test_fraction", "holdout_contigs", "seed", "max_n_fraction", "bed")


def _run_config(run_dir: Path | None) -> dict[str, Any]:
    """The run's resolved ``config.yaml`` (written by ``train()``) as a dict, or {}."""
    run_cfg = run_dir / "config.yaml" if run_dir is not None else None
    if run_cfg is None or not run_cfg.is_file():
        return {}
    return OmegaConf.to_container(OmegaConf.load(run_cfg), resolve=False)  # type: ignore[return-value]


def load_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a model from a save_pretrained dir, a run dir, a ``.ckpt`` or a shipped model's name.

    Returns (model, the run's data settings when found, else {}).
    """
    from genomamba.models import GenomambaLM

    target, run_dir = resolve_model_path(path)
    model = GenomambaLM.from_lightning_checkpoint(target) if target.is_file() else GenomambaLM.from_pretrained(target)
    data = _run_config(run_dir).get("data") or {}
    return model, {k: data[k] for k in _SPLIT_KEYS if k in data}


def evaluate_model(
    model_path: str | Path,
    fasta: str | Path,
    window_length: int | None = None,
    val_fraction: float | None = None,
    seed: int | None = None,
    max_windows: int | None = None,
    orders: Sequence[int] = tuple(range(1, 9)),
    alpha: float = 0.5,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Held-out windows of ``fasta`` (the training split logic), model vs Markov, as a dict.

    Settings left as ``None`` are the run's own (its ``config.yaml``: split, window length and
    ``eval.max_windows``, so the figure matches the run's ``metrics.json``), else the defaults
    (window 1024, held-out fraction 0.05, seed 0, 256 windows).
    """
    from genomamba.data import GenomeDataModule

    for key, value, low in (("window_length", window_length, 2), ("max_windows", max_windows, 1)):
        if value is not None and value < low:
            raise ConfigError(f"--{key.replace('_', '-')} must be >= {low}, got {value}")
    if val_fraction is not None and not 0 < val_fraction < 1:
        raise ConfigError(f"val-fraction must be in (0, 1), got {val_fraction} (--val-fraction)")
    if not Path(fasta).exists():
        raise FastaError(f"FASTA file not found: {fasta} (--fasta)")
    model, settings = load_model(model_path)
    if max_windows is None:
        run_eval = _run_config(resolve_model_path(model_path)[1]).get("eval") or {}
        max_windows = int(run_eval.get("max_windows") or DEFAULT_MAX_WINDOWS)
    for key, value in (("window_length", window_length), ("val_fraction", val_fraction), ("seed", seed)):
        if value is not None:
            settings[key] = value
    dm = GenomeDataModule(fasta=str(fasta), batch_size=batch_size, **settings)
    dm.prepare_data()
    dm.setup("fit")
    objective = "causal" if model.config.is_causal else "mlm"
    if torch.cuda.is_available():
        model = model.cuda()
    result = evaluate_heldout(
        model, training_sequences(dm), heldout_windows(dm, max_windows), objective=objective, orders=orders, alpha=alpha
    )
    result["model_path"] = str(model_path)
    result["fasta"] = str(fasta)
    result["split"] = {k: v for k, v in settings.items()}
    return result
