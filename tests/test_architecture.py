"""The package's layering, checked with import-linter (contracts in pyproject.toml).

Layers, top to bottom: apps > downstream > api > training > models | data > kernels >
outputs | devices > errors; inside downstream, finetune > finetune_tasks > genes > variants |
species > kmer > stats (one subpackage per task); and no import cycles between the modules of any
package.

grimp (import-linter's graph builder) walks the root package's folder, but ``genomamba.kernels``
is installed from ``kernels/`` (``package-dir`` in pyproject.toml), so the test lays the package
out as it is installed in a temporary folder and lints that copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture()
def installed_layout(tmp_path: Path) -> Path:
    """``tmp/genomamba`` with ``kernels/`` placed at ``genomamba/kernels``, as pip installs it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "genomamba", tmp_path / "genomamba", ignore=ignore)
    shutil.copytree(REPO / "kernels", tmp_path / "genomamba" / "kernels", ignore=ignore)
    return tmp_path


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS.is_file(), f"{LINT_IMPORTS} missing: install the dev extra (pip install -e '.[dev]')"
    # cwd is the copy (lint-imports puts the working directory first on sys.path), so the
    # checkout's own genomamba/ is not what gets linted.
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run(
        [str(LINT_IMPORTS), str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )


def test_import_linter_contracts_hold(installed_layout: Path) -> None:
    result = _lint(installed_layout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_layers_contract(installed_layout: Path) -> None:
    """The contract is live: a models module importing training (a layer above) is reported."""
    config = installed_layout / "genomamba" / "models" / "config.py"
    config.write_text(config.read_text() + "\nfrom genomamba.training import train  # noqa: E402,F401\n")
    result = _lint(installed_layout)
    assert result.returncode != 0
    assert "genomamba.models.config -> genomamba.training.train" in result.stdout, result.stdout[-4000:]


def test_a_task_importing_a_task_above_it_breaks_the_downstream_contract(installed_layout: Path) -> None:
    """The per-task layering of genomamba.downstream is live: variants may not import the gene benchmark."""
    scoring = installed_layout / "genomamba" / "downstream" / "variants" / "scoring.py"
    scoring.write_text(scoring.read_text() + "\nfrom genomamba.downstream.genes import metrics  # noqa: E402,F401\n")
    result = _lint(installed_layout)
    assert result.returncode != 0
    assert "genomamba.downstream.variants.scoring -> genomamba.downstream.genes.metrics" in result.stdout, result.stdout[-4000:]
