"""Two-process DDP on CPU (gloo) through the CLI, as a multi-GPU run would be launched."""

from __future__ import annotations

import json
from pathlib import Path


def test_cpu_ddp_two_processes_five_steps(tmp_path: Path, bundled_fasta: Path, fast_overrides, run_cli) -> None:
    run_dir = tmp_path / "run"
    overrides = [
        *fast_overrides(run_dir, max_steps=5),
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.precision=32-true",
    ]
    result = run_cli(["train", *overrides], cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "MEMBER: 2/2" in out  # both ranks joined the process group
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"]["global_step"] == 5
