"""``train(cfg)``: build data, model and trainer from a composed Hydra config, fit, evaluate.

Pure function of the config (no ``@hydra.main`` here; see ``genomamba.apps.train``), so tests
and the demo can call it directly. Outputs in ``cfg.run_dir``: ``checkpoints/``, ``logs/``,
``model/`` (``save_pretrained``), ``metrics.json`` and ``loss_curve.png``.
"""

from __future__ import annotations

import logging
import pickle
import shutil
import signal
import warnings
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from genomamba.errors import CheckpointError, ConfigError, FastaError, GenomambaError
from genomamba.outputs import (
    check_not_input,
    check_run_dir,
    hold_run_dir,
    is_launch_rank_zero,
    remove_failed_start,
    write_json,
)

if TYPE_CHECKING:
    import lightning as L

# Lightning, torch and the evaluation are imported by the functions that train: the checks above
# train() (check_fasta, check_run_dir ...) run in `genomamba train`'s preflight, before torch loads.

log = logging.getLogger(__name__)


class TrainingInterrupted(GenomambaError):
    """Training stopped on SIGTERM/SIGINT after saving a resumable checkpoint."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


def _fasta_paths(spec: Any) -> list[str]:
    if isinstance(spec, str | Path):
        return [str(spec)]
    if isinstance(spec, Mapping):
        return [str(v) for v in spec.values()]
    return [str(v) for v in spec]


def check_fasta(cfg: DictConfig) -> None:
    """Fail early, naming the config key, when ``data.fasta`` is unset or missing on disk."""
    try:
        if OmegaConf.is_missing(cfg.data, "fasta"):
            raise MissingMandatoryValue("data.fasta")
        spec = OmegaConf.to_container(cfg.data, resolve=True)["fasta"]
    except MissingMandatoryValue as e:
        raise ConfigError("data.fasta is not set: pass data.fasta=/path/genome.fa[.gz]") from e
    for p in _fasta_paths(spec):
        if not Path(p).exists():
            raise FastaError(
                f"FASTA file not found: {p} (data.fasta). For the bundled genome run from the "
                f"repository root or set GENOMAMBA_DATA_DIR / paths.data_dir to the folder holding "
                f"genomes/; for your own genome pass data.fasta=/path/genome.fa"
            )


def check_track(cfg: DictConfig) -> None:
    """A relative-track model trains on windows with a track (``data.track_fasta``, on disk), and
    only such a model does."""
    track = OmegaConf.select(cfg, "data.track_fasta", default=None)
    relative_track = bool(OmegaConf.select(cfg, "model.relative_track", default=False))
    if relative_track and track is None:
        raise ConfigError(
            "model.relative_track=true needs data.track_fasta=<the genome's track FASTA> (make it with "
            "genomamba make-relative-track --fasta GENOME --relative RELATIVE --out TRACK.fa)"
        )
    if track is not None and not relative_track:
        raise ConfigError("data.track_fasta is set but the model does not read a track: add model.relative_track=true, "
                          "or drop data.track_fasta")
    for p in _fasta_paths(track) if track is not None else []:
        if not Path(p).exists():
            raise FastaError(f"track FASTA not found: {p} (data.track_fasta); make it with genomamba make-relative-track "
                             "--fasta GENOME --relative RELATIVE --out TRACK.fa")


def remove_stale_temp_files(run_dir: Path) -> list[Path]:
    """Delete temporary files that a killed checkpoint or model save left in ``run_dir``.

    Saves write ``.<name>.<random>.tmp`` (checkpoints) or ``.model.tmp-*`` / ``.model.old-*``
    (``save_pretrained``) and rename them into place; only a SIGKILL or power loss mid-save
    leaves one. Called at the start of every run and resume (rank 0)."""
    patterns = [(run_dir / "checkpoints", ".*.ckpt.*.tmp"), (run_dir, ".model.tmp-*"), (run_dir, ".model.old-*")]
    removed = [p for d, pattern in patterns if d.is_dir() for p in d.glob(pattern)]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    if removed:
        log.warning("removed %d temporary file(s) left by an interrupted save: %s", len(removed), [p.name for p in removed])
    return removed


def check_resume_checkpoint(ckpt_path: str, module: Any) -> None:
    """Fail before training, naming the file, when ``ckpt_path`` is unreadable or holds another model.

    Reads the checkpoint memory-mapped (cheap even for large files) and compares its tensors'
    names and shapes with the configured module's."""
    import torch

    with open(ckpt_path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive
            raise CheckpointError(f"ckpt_path={ckpt_path}: not a torch checkpoint (not a zip archive). {_RESUME_FIX}")
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):
            return  # a real checkpoint with objects the safe loader refuses: Lightning's own load decides
        raise CheckpointError(f"ckpt_path={ckpt_path}: not a readable checkpoint ({_first_line(e)}); it is truncated or corrupt. {_RESUME_FIX}") from None
    except Exception as e:  # zip reader / EOF errors of truncated files
        raise CheckpointError(f"ckpt_path={ckpt_path}: not a readable checkpoint ({_first_line(e)}); it is truncated or corrupt. {_RESUME_FIX}") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"ckpt_path={ckpt_path}: not a Lightning training checkpoint (no state_dict). {_RESUME_FIX}")
    own = module.state_dict()
    theirs = ckpt["state_dict"]
    bad = [k for k in own if k not in theirs or tuple(theirs[k].shape) != tuple(own[k].shape)]
    bad += [k for k in theirs if k not in own]
    if bad:
        saved = (ckpt.get("hyper_parameters") or {}).get("model_config") or {}
        ours = module.hparams.get("model_config") or {}
        diff = [f"{k}={saved.get(k)!r} (config: {ours.get(k)!r})" for k in sorted(set(saved) | set(ours)) if saved.get(k) != ours.get(k)]
        what = f"model settings {', '.join(diff[:6])}" if diff else f"tensors, e.g. {bad[:3]}"
        raise CheckpointError(
            f"ckpt_path={ckpt_path}: the checkpoint belongs to another model: its {what} differ from this config's. "
            "Resume with the model overrides of the run that wrote it (e.g. model=... model.d_model=...), or start a new run."
        )


_RESUME_FIX = "Resume from another checkpoint (ckpt_path=<run_dir>/checkpoints/best-*.ckpt) or start a new run"


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def resolve_ckpt_path(ckpt_path: str | None, run_dir: Path) -> str | None:
    """``None`` (fresh run), ``"last"`` (``run_dir/checkpoints/last.ckpt``) or an explicit path."""
    ckpt_dir = run_dir / "checkpoints"
    if ckpt_path is None:
        # DDP worker processes start after rank 0 and must not trip over its fresh checkpoints.
        if is_launch_rank_zero() and ckpt_dir.is_dir() and any(ckpt_dir.glob("*.ckpt")):
            raise ConfigError(
                f"{ckpt_dir} already holds checkpoints from an earlier run. Resume it with "
                f"ckpt_path=last, or start a new run with another name=... or run_dir=..."
            )
        return None
    path = ckpt_dir / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path} (ckpt_path={ckpt_path}). ckpt_path=last resumes from "
            f"<run_dir>/checkpoints/last.ckpt; pass the interrupted run's name=... or run_dir=..."
        )
    return str(path)


def instantiate_config(node: DictConfig, **kwargs: Any) -> Any:
    """``instantiate(node)``, with a genomamba error raised inside a constructor (a bad setting, a
    missing ``module.init_from`` model) re-raised as itself rather than wrapped by Hydra, so the
    CLI prints its one line."""
    from hydra.errors import InstantiationException

    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as e:
        if isinstance(e.__cause__, GenomambaError):
            raise e.__cause__ from None
        raise


def check_init_from(cfg: DictConfig) -> None:
    """Fail before training, naming ``module.init_from``, when that model cannot be loaded or does
    not fit the configured model."""
    source = OmegaConf.select(cfg, "module.init_from", default=None)
    if source is None:
        return
    from genomamba.models import GenomambaLM
    from genomamba.training.lit_module import load_initial_weights

    try:
        load_initial_weights(GenomambaLM(instantiate_config(cfg.model)), str(source))
    except ConfigError:
        raise
    except GenomambaError as e:
        raise ConfigError(f"module.init_from={source}: {e}") from None


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    if not group:
        return []
    return [instantiate(c) for c in group.values() if c is not None and "_target_" in c]


def check_trainer_settings(trainer: Mapping[str, Any], key: str = "trainer") -> None:
    """ConfigError naming the key when the trainer would train nothing: ``max_steps`` 0 (or below
    -1, Lightning's "no limit"), ``max_epochs`` 0."""
    steps, epochs = trainer.get("max_steps"), trainer.get("max_epochs")
    if steps is not None and (steps == 0 or steps < -1):
        raise ConfigError(f"{key}.max_steps={steps} trains nothing: pass the number of optimiser steps, e.g. "
                          f"{key}.max_steps=1000 (-1: no step limit, stop at {key}.max_epochs)")
    if epochs is not None and (epochs == 0 or epochs < -1):
        raise ConfigError(f"{key}.max_epochs={epochs} trains nothing: pass a number of epochs >= 1, or -1 (no limit)")


def check_run_outputs(cfg: DictConfig, run_dir: Path) -> None:
    """OutputError when a file this run writes into ``run_dir`` (or the ``model/`` directory it
    replaces) is one of its inputs (``data.fasta``, ``data.track_fasta``, ``module.init_from``)."""
    inputs = {
        key: OmegaConf.select(cfg, key, default=None)
        for key in ("data.fasta", "data.track_fasta", "module.init_from")
    }
    inputs = {k: OmegaConf.to_container(v) if OmegaConf.is_config(v) else v for k, v in inputs.items()}
    fix = "pass another name=... or run_dir=..."
    for name in ("config.yaml", "metrics.json", "loss_curve.png"):
        check_not_input(run_dir / name, "run_dir output", inputs, fix=fix)
    check_not_input(run_dir / "model", "run_dir output", inputs, replaces_dir=True, fix=fix)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit the configured model; on global rank 0 also save and evaluate. Returns metrics.

    Rank 0 holds the run directory (:func:`~genomamba.outputs.hold_run_dir`) for the whole run:
    a second run into it stops with :class:`~genomamba.outputs.RunDirBusyError` before writing."""
    run_dir = Path(cfg.run_dir).resolve()
    check_fasta(cfg)
    check_track(cfg)
    check_run_dir(run_dir)
    check_trainer_settings(cfg.trainer)
    check_run_outputs(cfg, run_dir)
    rank_zero = is_launch_rank_zero()
    with hold_run_dir(run_dir) if rank_zero else nullcontext():
        ckpt_path = resolve_ckpt_path(cfg.ckpt_path, run_dir)
        import lightning as L

        L.seed_everything(cfg.seed, workers=True, verbose=False)
        if rank_zero:
            remove_stale_temp_files(run_dir)
        # A failed start (nothing resumable) leaves nothing behind; an interrupted run keeps its last.ckpt.
        cleanup = remove_failed_start(
            run_dir, resumable=lambda: (run_dir / "checkpoints" / "last.ckpt").exists(), keep=(TrainingInterrupted,)
        )
        with cleanup if rank_zero else nullcontext():
            return _train(cfg, run_dir, ckpt_path, rank_zero)


def _train(cfg: DictConfig, run_dir: Path, ckpt_path: str | None, rank_zero: bool) -> dict[str, Any]:
    from lightning.pytorch.callbacks import ProgressBar
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from genomamba.training.callbacks import AtomicCheckpointIO, GracefulShutdown

    # Data and model are built and checked before anything is written into run_dir.
    datamodule = instantiate_config(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    tok = datamodule.tokenizer
    model_config = instantiate_config(cfg.model, vocab_size=tok.vocab_size, pad_token_id=tok.pad_id)
    module = instantiate_config(cfg.module, model_config=model_config, mask_token_id=tok.mask_id)
    if ckpt_path is not None:
        check_resume_checkpoint(ckpt_path, module)
    if rank_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        # Resolved settings of this run (also when composed outside Hydra's app, e.g. the demo);
        # `genomamba evaluate <run_dir>` reuses its split settings.
        resolved = {k: v for k, v in cfg.items() if k != "hydra"}
        OmegaConf.save(OmegaConf.create(OmegaConf.to_container(OmegaConf.create(resolved), resolve=False)), run_dir / "config.yaml", resolve=True)
    callbacks = _instantiate_all(cfg.get("callbacks"))
    if cfg.trainer.get("enable_progress_bar") is False:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    loggers = _instantiate_all(cfg.get("logger")) or False
    trainer: L.Trainer = instantiate(
        cfg.trainer, _convert_="all", callbacks=callbacks, logger=loggers, plugins=[AtomicCheckpointIO()], default_root_dir=str(run_dir)
    )
    try:
        with warnings.catch_warnings():
            # GenomeDataModule.state_dict records the position inside the epoch, so a mid-epoch
            # resume continues the window stream exactly; Lightning cannot see that and warns.
            warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except SIGTERMException as e:
        shutdown = next((c for c in callbacks if isinstance(c, GracefulShutdown)), None)
        signum = shutdown.interrupted_by if shutdown and shutdown.interrupted_by else signal.SIGTERM
        raise TrainingInterrupted(
            f"training interrupted by {signal.Signals(signum).name} at step {trainer.global_step}; "
            f"resume with: genomamba train <same overrides> ckpt_path=last",
            signum,
        ) from e
    # Collective under DDP (every rank enters; rank 0 writes): last.ckpt = the final step.
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    if not trainer.is_global_zero:
        return {}
    return finalize(module, datamodule, trainer, cfg, run_dir)


def finalize(module: Any, datamodule: Any, trainer: L.Trainer, cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Save ``model/``, evaluate on held-out windows, write ``metrics.json`` and the loss curve."""
    from genomamba.training.evaluation import evaluate_heldout, heldout_windows_and_tracks, training_sequences
    from genomamba.training.plots import plot_loss_curve

    model = module.model.cpu().float()
    model.training_data = module.training_record(datamodule)
    try:
        model.save_pretrained(run_dir / "model")
    except (OSError, RuntimeError) as e:  # safetensors / rename errors on a full or read-only disk
        raise CheckpointError(
            f"cannot write the final model to {run_dir / 'model'} ({_first_line(e)}); is the disk full? Free space, "
            "then rerun with ckpt_path=last (training is done; last.ckpt holds it)"
        ) from None
    windows, tracks = heldout_windows_and_tracks(datamodule, cfg.eval.max_windows)
    metrics = evaluate_heldout(
        model,
        training_sequences(datamodule),
        windows,
        tracks=tracks,
        objective=module.hparams.objective,
        orders=cfg.eval.orders,
        alpha=cfg.eval.alpha,
        mask_token_id=module.hparams.mask_token_id,
    )
    metrics["train"] = {
        "global_step": int(trainer.global_step),
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "last_val_bpb": _scalar(trainer.callback_metrics.get("val/bpb")),
    }
    metrics["run_dir"] = str(run_dir)
    write_json(run_dir / "metrics.json", metrics, option="metrics")
    png = plot_loss_curve(
        run_dir / "logs", run_dir / "loss_curve.png", title=f"{cfg.get('name') or run_dir.name}: bits per base",
        baselines=_markov_lines(metrics),
    )
    if png is None:
        log.warning("no CSV log under %s; loss_curve.png not written", run_dir / "logs")
    return metrics


def _markov_lines(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Held-out Markov baselines to draw on the loss curve: order 2 and the best order."""
    markov, best = metrics.get("markov") or {}, metrics.get("markov_best")
    lines = {"held-out Markov order 2": markov["2"]} if "2" in markov else {}
    if best is not None and str(best["order"]) != "2":
        lines[f"held-out Markov order {best['order']} (best)"] = best["bits_per_base"]
    return lines


def _scalar(x: Any) -> float | None:
    return None if x is None else float(x)
