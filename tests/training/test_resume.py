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
