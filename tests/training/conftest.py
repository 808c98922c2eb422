"""Helpers for the training tests: fast overrides and running the ``genomamba`` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED = REPO_ROOT / "data" / "genomes" / "escherichia_coli_536.fa.gz"


def fast_overrides(run_dir: Path, max_steps: int = 20) -> list[str]:
    """Tiny model, short windows, few eval windows: seconds per run on CPU."""
    return [
        f"paths.data_dir={REPO_ROOT / 'data'}",
        f"run_dir={run_dir}",
        "model=tiny",
        "model.d_model=32",
        f"trainer.max_steps={max_steps}",
        "trainer.val_check_interval=10",
        "trainer.limit_val_batches=2",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "data.window_length=128",
        "data.batch_size=4",
        "module.warmup_steps=5",
        "eval.max_windows=8",
        "eval.orders=[1,2,3]",
        "callbacks.last_checkpoint.every_n_train_steps=5",
    ]


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "genomamba"
    return [str(script)] if script.exists() else [sys.executable, "-m", "genomamba.apps.cli"]


def run_cli(args: list[str], cwd: Path, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [*cli_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kwargs
    )


@pytest.fixture(name="fast_overrides", scope="session")
def _fast_overrides_fixture():
    return fast_overrides


@pytest.fixture(name="run_cli", scope="session")
def _run_cli_fixture():
    return run_cli


@pytest.fixture(name="cli_command", scope="session")
def _cli_command_fixture():
    return cli_command


@pytest.fixture(scope="session")
def bundled_fasta() -> Path:
    assert BUNDLED.is_file(), f"bundled genome missing: {BUNDLED}"
    return BUNDLED
