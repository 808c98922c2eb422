"""Held-out bits per base of a saved model on a FASTA, next to Markov baselines (``genomamba evaluate``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genomamba.errors import ConfigError, FastaError
from genomamba.models.locate import resolve_model_path

if TYPE_CHECKING:
    from genomamba.data import GenomeDataModule
    from genomamba.models import GenomambaLM

# torch, Lightning and the model are imported after the arguments are checked (evaluate_model):
# `genomamba evaluate` answers a wrong argument or path before it loads them.

DEFAULT_MAX_WINDOWS = 256


def heldout_datamodule(
    model_path: str | Path, fasta: str | Path, window_length: int | None = None, val_fraction: float | None = None,
    seed: int | None = None, batch_size: int = 16, track: str | Path | None = None,
) -> tuple[GenomambaLM, GenomeDataModule, dict[str, Any]]:
    """The saved model, a set-up datamodule over ``fasta`` with the run's own split, and the split
    settings used: those left ``None`` are the run's (its ``config.yaml``). The held-out windows are
    ``heldout_windows(dm, n)``, the same for every model evaluated with the same settings.
    ``track``: the relative track of ``fasta``, required by (and only by) a relative-track model."""
    from genomamba.data import GenomeDataModule
    from genomamba.models import GenomambaLM
    from genomamba.models.checkpoint import load_model

    model, settings = load_model(GenomambaLM, model_path)
    model.config.check_track_input(track, model_path)
    for key, value in (("window_length", window_length), ("val_fraction", val_fraction), ("seed", seed)):
        if value is not None:
            settings[key] = value
    dm = GenomeDataModule(fasta=str(fasta), batch_size=batch_size, track_fasta=None if track is None else str(track), **settings)
    dm.prepare_data()
    dm.setup("fit")
    return model, dm, settings


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
    allow_seen: bool = False,
    track: str | Path | None = None,
) -> dict[str, Any]:
    """Held-out windows of ``fasta`` (the training split logic), model vs Markov, as a dict.

    Settings left as ``None`` are the run's own (its ``config.yaml``: split, window length and
    ``eval.max_windows``, so the figure matches the run's ``metrics.json``), else the defaults
    (window 1024, held-out fraction 0.05, seed 0, 256 windows).

    Held-out windows the model trained on (its ``training_data.json``) are a ``ConfigError``
    unless ``allow_seen``; ``result["pretraining_overlap"]`` records the check.
    """
    for key, value, low in (("window_length", window_length, 2), ("max_windows", max_windows, 1)):
        if value is not None and value < low:
            raise ConfigError(f"--{key.replace('_', '-')} must be >= {low}, got {value}")
    if val_fraction is not None and not 0 < val_fraction < 1:
        raise ConfigError(f"val-fraction must be in (0, 1), got {val_fraction} (--val-fraction)")
    if not Path(fasta).exists():
        raise FastaError(f"FASTA file not found: {fasta} (--fasta)")
    resolve_model_path(model_path)  # a missing model fails here, before torch is imported
    import torch

    from genomamba.data.provenance import check_held_out
    from genomamba.models.checkpoint import run_config
    from genomamba.training.evaluation import evaluate_heldout, heldout_windows_and_tracks, training_sequences

    model, dm, settings = heldout_datamodule(model_path, fasta, window_length, val_fraction, seed, batch_size, track)
    overlap = check_held_out(
        model, zip(dm.files, dm.splits["val"], strict=True), f"genomamba evaluate {model_path} on {fasta}",
        "evaluate on a region it never saw (a smaller --val-fraction holds out less of each record's end) or on a "
        "genome it never saw", allow_seen=allow_seen,
    )
    if max_windows is None:
        run_eval = run_config(resolve_model_path(model_path)[1]).get("eval") or {}
        max_windows = int(run_eval.get("max_windows") or DEFAULT_MAX_WINDOWS)
    objective = "causal" if model.config.is_causal else "mlm"
    if torch.cuda.is_available():
        model = model.cuda()
    windows, tracks = heldout_windows_and_tracks(dm, max_windows)
    result = evaluate_heldout(
        model, training_sequences(dm), windows, objective=objective, orders=orders, alpha=alpha, tracks=tracks
    )
    result["model_path"] = str(model_path)
    result["fasta"] = str(fasta)
    if track is not None:
        result["track"] = str(track)
    result["split"] = {k: v for k, v in settings.items()}
    result["pretraining_overlap"] = overlap
    return result
