"""The documentation site builds: ``mkdocs build --strict`` (mkdocs-material, the API reference
from the docstrings with mkdocstrings). Strict mode fails on any warning: a broken link or anchor
between pages, a page missing from the navigation, a docstring the reference cannot read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_docs_site_builds_strict(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    assert mkdocs.exists(), "mkdocs is not installed: pip install -e '.[docs]' (mkdocs-material, mkdocstrings[python])"
    # As in a fresh clone: no copy of the sources left by an earlier build (the hook makes it; a
    # first build once failed to collect genomamba.kernels because the copy came too late).
    shutil.rmtree(REPO_ROOT / "build" / "docs-src", ignore_errors=True)
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    site = tmp_path / "site"
    # the API reference has one page per task, generated from the docstrings
    for page in ("species", "variants", "genes", "models", "data", "training", "api", "kernels"):
        html = (site / "reference" / page / "index.html").read_text()
        assert 'class="doc doc-object' in html or "doc-heading" in html, f"reference/{page} has no generated API entries"
    species = (site / "reference" / "species" / "index.html").read_text()
    assert "genomamba.downstream.species.probe" in species and "n_test_windows" in species
    # the shipped models' cards and the benchmark results are part of the site
    assert (site / "models" / "ecoli536-hybrid-d256" / "index.html").is_file()
    assert (site / "results" / "ecoli536_mamba_track.json").is_file()


pytestmark = pytest.mark.slow
