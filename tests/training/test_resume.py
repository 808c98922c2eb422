"""Kill a real training process with SIGTERM, then resume it with ``ckpt_path=last``."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from genomamba.errors import ConfigError
from genomamba.training.train import resolve_ckpt_path


def _steps_logged(metrics_csv: Path) -> list[int]:
    with metrics_csv.open() as f:
        return sorted({int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss")})


def test_sigterm_saves_and_ckpt_path_last_resumes(tmp_path: Path, bundled_fasta: Path, cli_command, fast_overrides, run_cli) -> None:
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        [*cli_command(), "train", *fast_overrides(run_dir, max_steps=100_000)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not last.exists():
            assert proc.poll() is None, f"training exited early:\n{proc.stdout.read()}"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "interrupted by SIGTERM" in out and "Traceback" not in out
    saved_step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert saved_step >= 5
    assert not (run_dir / "metrics.json").exists()

    # A fresh run into the same directory is refused rather than overwriting it.
    with pytest.raises(ConfigError, match="ckpt_path=last"):
        resolve_ckpt_path(None, run_dir)

    target = saved_step + 5
    resumed = run_cli(["train", *fast_overrides(run_dir, max_steps=target), "ckpt_path=last"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"]["global_step"] == target
    # The second run's log starts where the first stopped, not at step 0.
    versions = sorted((run_dir / "logs").glob("version_*/metrics.csv"))
    assert len(versions) == 2
    second = _steps_logged(versions[1])
    assert second and min(second) >= saved_step and max(second) == target - 1


def test_mid_epoch_resume_sees_the_same_windows_as_an_uninterrupted_run(
    tmp_path: Path, fast_overrides, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint saved at step 4 lies inside epoch 0 (6 batches per epoch); resuming from it
    must train on exactly the windows of steps 4..9 of a run that was never stopped, across the
    epoch boundary, not restart the epoch's window stream."""
    import shutil

    from genomamba.training.compose import compose_config
    from genomamba.training.lit_module import GenomambaLitModule
    from genomamba.training.train import train

    seen: dict[int, list[int]] = {}
    snapshot = tmp_path / "step4.ckpt"

    def record(self, batch, batch_idx) -> None:
        seen[int(self.global_step)] = [int(s) for s in batch["start"]]
        last = Path(self.trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        if self.global_step == 5 and not snapshot.exists():
            shutil.copy(last, snapshot)  # written at the end of step 4's batch

    monkeypatch.setattr(GenomambaLitModule, "on_train_batch_start", record, raising=False)

    def run(run_dir: Path, ckpt: str | None = None) -> dict[int, list[int]]:
        seen.clear()
        overrides = [
            *fast_overrides(run_dir, max_steps=10), "data.train_samples_per_epoch=24", "data.rc_augment=false",
            "callbacks.last_checkpoint.every_n_train_steps=2", "trainer.val_check_interval=3", "eval.max_windows=2",
        ]
        train(compose_config([*overrides, *([f"ckpt_path={ckpt}"] if ckpt else [])]))
        return dict(seen)

    full = run(tmp_path / "full")
    assert sorted(full) == list(range(10))
    assert torch.load(snapshot, map_location="cpu", weights_only=False)["global_step"] == 4
    resumed = run(tmp_path / "resumed", ckpt=str(snapshot))
    assert sorted(resumed) == list(range(4, 10))
    assert {s: full[s] for s in resumed} == resumed
    # and the windows really differ from step to step (the check is not vacuous)
    assert len({tuple(v) for v in full.values()}) == 10


@pytest.mark.parametrize(
    "hook", ["on_validation_batch_end", "on_validation_end", "on_train_batch_end", "on_train_batch_start"]
)
def test_sigterm_at_any_point_of_a_step_resumes_with_consecutive_log_steps(
    tmp_path: Path, fast_overrides, monkeypatch: pytest.MonkeyPatch, hook: str
) -> None:
    """Wherever in a step the signal lands (mid-epoch validation included, where Lightning stops
    after advancing its logger step counter), the resumed run logs saved_step..target-1 once each."""
    import os

    from genomamba.training.compose import compose_config
    from genomamba.training.lit_module import GenomambaLitModule
    from genomamba.training.train import TrainingInterrupted, train

    def send_sigterm(self, *args, **kwargs) -> None:
        if self.global_step == 10 and not getattr(self, "_killed", False):
            self._killed = True
            os.kill(os.getpid(), signal.SIGTERM)

    run_dir = tmp_path / "run"
    overrides = [*fast_overrides(run_dir, max_steps=100), "data.rc_augment=false"]
    monkeypatch.setattr(GenomambaLitModule, hook, send_sigterm, raising=False)
    with pytest.raises(TrainingInterrupted):
        train(compose_config(overrides))
    monkeypatch.undo()
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert saved in (10, 11)  # the signal is acted on at the next batch boundary
    metrics = train(compose_config([*fast_overrides(run_dir, max_steps=saved + 5), "data.rc_augment=false", "ckpt_path=last"]))
    assert metrics["train"]["global_step"] == saved + 5
    versions = sorted((run_dir / "logs").glob("version_*/metrics.csv"))
    assert _steps_logged(versions[0]) == list(range(saved))
    assert _steps_logged(versions[1]) == list(range(saved, saved + 5))
