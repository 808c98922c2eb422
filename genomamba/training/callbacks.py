"""Training callbacks and checkpoint I/O: graceful shutdown, sequence-length warm-up, atomic saves."""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from genomamba.errors import CheckpointError
from genomamba.outputs import match_umask

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temp file in the target directory, fsync, then ``os.replace``.

    Lightning's own save goes through an fsspec transaction whose temp file lives in the
    system temp dir; when that is another filesystem the final move is a copy, so a kill
    mid-copy leaves a truncated ``last.ckpt``. A same-directory rename is atomic on POSIX.
    Remote URLs fall back to Lightning's implementation.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path_str = str(path)
        if "://" in path_str and not path_str.startswith("file://"):
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(path_str.removeprefix("file://"))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            match_umask(tmp)
            os.replace(tmp, target)
        except (OSError, RuntimeError) as err:
            # A full disk surfaces as torch's zip-writer RuntimeError (or ENOSPC): one clear line.
            Path(tmp).unlink(missing_ok=True)
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise CheckpointError(
                f"cannot write checkpoint {target} ({first}); is the disk full? Free space on "
                f"{target.parent} (df -h) or set run_dir=... elsewhere, then resume with ckpt_path=last"
            ) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class GracefulShutdown(L.Callback):
    """On SIGTERM or SIGINT, finish the current step, save ``last.ckpt`` and stop.

    Lightning turns SIGTERM into a ``SIGTERMException`` at the next batch boundary (on all
    DDP ranks). We route the first SIGINT (Ctrl-C) through the same path, so a checkpoint is
    never taken in the middle of an optimiser step; a second Ctrl-C interrupts immediately.
    ``interrupted_by`` records the signal so the caller can exit with 128 + signum.
    """

    def __init__(self, checkpoint_path: str | os.PathLike[str]) -> None:
        self.checkpoint_path = Path(checkpoint_path)
        self.interrupted_by: int | None = None
        self._prev_sigint: Any = None
        self._notice = _SignalNotice(self)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.interrupted_by = signal.SIGINT
        signal.signal(signal.SIGINT, signal.default_int_handler)  # second Ctrl-C: hard stop
        print(f"\ngenomamba: Ctrl-C (SIGINT): stopping after the current step and saving {self.checkpoint_path.name}; "
              "press Ctrl-C again to stop at once (nothing saved)", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logging.getLogger(_SIGNAL_LOGGER).addFilter(self._notice)
        try:
            self._prev_sigint = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread: leave SIGINT alone
            self._prev_sigint = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        # Lightning's logger step ("batches that stepped") equals global_step at every batch
        # start (both count optimizer steps). On restore Lightning adds one to the saved value,
        # which is right for its own on_train_batch_end / on_validation_end saves but not for a
        # SIGTERM raised after the counter moved (e.g. during end-of-step validation): the
        # resumed log would be shifted by one step. Re-align it (private attribute, guarded).
        epoch_loop = trainer.fit_loop.epoch_loop
        if getattr(epoch_loop, "_batches_that_stepped", None) not in (None, trainer.global_step):
            epoch_loop._batches_that_stepped = trainer.global_step

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def _restore(self) -> None:
        logging.getLogger(_SIGNAL_LOGGER).removeFilter(self._notice)
        if self._prev_sigint is not None:
            signal.signal(signal.SIGINT, self._prev_sigint)
            self._prev_sigint = None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()
        if not isinstance(exception, SIGTERMException):
            return
        if self.interrupted_by is None:
            self.interrupted_by = signal.SIGTERM
        trainer.save_checkpoint(self.checkpoint_path)
        log.warning(
            "Interrupted (%s) at step %d; saved %s. Resume with ckpt_path=last.",
            signal.Signals(self.interrupted_by).name,
            trainer.global_step,
            self.checkpoint_path,
        )


# Lightning's signal connector logs "Received SIGTERM: 15" when the signal arrives. For a Ctrl-C
# (sent on as SIGTERM, above) that line came before "interrupted by SIGINT" and named the wrong
# signal: it is dropped then (the Ctrl-C line was printed), and for a real SIGTERM reworded.
_SIGNAL_LOGGER = "lightning.pytorch.trainer.connectors.signal_connector"


class _SignalNotice(logging.Filter):
    def __init__(self, shutdown: GracefulShutdown) -> None:
        super().__init__()
        self.shutdown = shutdown

    def filter(self, record: logging.LogRecord) -> bool:
        if "Received SIGTERM" not in record.getMessage():
            return True
        if self.shutdown.interrupted_by == signal.SIGINT:
            return False
        record.msg, record.args = (f"SIGTERM received: stopping after the current step and saving "
                                   f"{self.shutdown.checkpoint_path.name}"), ()
        return True


class SeqLenWarmup(L.Callback):
    """HyenaDNA-style sequence-length warm-up (Nguyen et al. 2023).

    Training starts at ``start_length`` and doubles every ``warmup_steps / n_stages`` steps until
    the datamodule's final ``window_length``; the datamodule's ``set_window_length`` applies it.
    With ``num_workers > 0`` a change reaches the workers only when the train loader is rebuilt
    (``trainer.reload_dataloaders_every_n_epochs=1``), so the schedule is also re-applied at each
    epoch start; with ``num_workers=0`` it takes effect at the next batch.
    """

    def __init__(self, start_length: int = 64, warmup_steps: int = 1000) -> None:
        if start_length < 1 or warmup_steps < 0:
            raise ValueError("start_length must be >= 1 and warmup_steps >= 0")
        self.start_length = start_length
        self.warmup_steps = warmup_steps
        self._final: int | None = None
        self._current: int | None = None

    def length_at(self, step: int, final_length: int) -> int:
        """Window length at ``step``: powers-of-two stages from ``start_length`` to ``final_length``.

        >>> SeqLenWarmup(64, 300).length_at(0, 512), SeqLenWarmup(64, 300).length_at(150, 512)
        (64, 128)
        >>> SeqLenWarmup(64, 300).length_at(299, 512), SeqLenWarmup(64, 300).length_at(300, 512)
        (256, 512)
        """
        if self.start_length >= final_length or step >= self.warmup_steps:
            return final_length
        lengths = []
        length = self.start_length
        while length < final_length:
            lengths.append(length)
            length *= 2
        stage = step * len(lengths) // max(self.warmup_steps, 1)
        return lengths[min(stage, len(lengths) - 1)]

    def _apply(self, trainer: L.Trainer) -> None:
        dm = trainer.datamodule
        if dm is None:
            return
        if self._final is None:
            self._final = int(dm.window_length)
        length = self.length_at(trainer.global_step, self._final)
        if length != self._current:
            dm.set_window_length(length)
            self._current = length

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._apply(trainer)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._apply(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._final is not None and trainer.datamodule is not None:
            trainer.datamodule.set_window_length(self._final)  # evaluate at full length


class StepProgressBar(RichProgressBar):
    """Rich progress bar counted in optimiser steps up to ``max_steps``, so the time-left column
    estimates the whole run (Lightning's counts batches of the sampler's "epoch" and labels it
    ``Epoch 0/-2`` when ``max_epochs=-1``). The logger version (``v_num``) is not shown."""

    def _get_train_description(self, current_epoch: int) -> str:
        return f"{'step':{len(self.validation_description)}}"

    @property
    def total_train_batches(self) -> int | float:
        max_steps = self.trainer.max_steps
        return max_steps if max_steps and max_steps > 0 else super().total_train_batches

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # One bar for the whole run: later epochs must not reset the count or the time estimate.
        if self.train_progress_bar_id is None:
            super().on_train_epoch_start(trainer, pl_module)
            self._update(self.train_progress_bar_id, trainer.global_step)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._t0, self._step0 = time.monotonic(), trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
        self.refresh()
        if self.progress is not None and not self.progress.console.is_terminal:
            self._log_line(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The last step's line waits for the validation that may follow that step, so it shows the
        # final validation figure rather than the previous one.
        if self.progress is not None and not self.progress.console.is_terminal:
            self._log_line(trainer, pl_module, final=True)
        super().on_train_end(trainer, pl_module)

    def _log_line(self, trainer: L.Trainer, pl_module: L.LightningModule, final: bool = False) -> None:
        """Without a terminal (a log file, a batch job) Rich draws nothing: print a plain line at
        every tenth of the run instead, with the time left; the last one when training ends."""
        step, total = trainer.global_step, trainer.max_steps
        if not total or total <= 0 or not final and (step >= total or step % max(1, total // 10)):
            return
        elapsed = time.monotonic() - self._t0
        done = max(step - self._step0, 1)
        left = elapsed / done * max(total - step, 0)
        metrics = self.get_metrics(trainer, pl_module)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float) and ("loss" in k or "bpb" in k))
        print(f"step {step}/{total}  elapsed {_clock(elapsed)}  left ~{_clock(left)}  {shown}", flush=True)

    def _stop_progress(self) -> None:
        # Without a terminal Rich would print the finished bar once more, as a block of wrapped
        # text in the log; the plain step lines have said it all.
        if self.progress is not None and not self.progress.console.is_terminal:
            self.progress.live.transient = True
        super()._stop_progress()

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ModelSizeSummary(L.Callback):
    """One line with the model's size and shape at the start of training, instead of Lightning's
    module table (whose FLOPs column reads 0 for models it cannot trace)."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        model = getattr(pl_module, "model", pl_module)
        n_params = sum(p.numel() for p in model.parameters())
        cfg = getattr(model, "config", None)
        shape = ""
        if cfg is not None:
            kind = "hybrid" if cfg.attn_layers else "Mamba"
            shape = f" ({kind}, d_model {cfg.d_model}, {cfg.n_layer} layers, d_state {cfg.d_state})"
        print(f"model: {n_params:,} parameters{shape}", flush=True)
