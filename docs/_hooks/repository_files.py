"""MkDocs hook: what the site needs from outside ``docs/``.

- Each shipped model's card (``genomamba/pretrained/<name>/MODEL_CARD.md``) becomes the page
  ``models/<name>.md``: the cards are written once, ship inside the package and read on the site.
- The measured benchmark results (``benchmarks/results/*.json`` and their plots) are copied to
  ``results/``, so the benchmark pages link the JSON that holds each figure's provenance.
- The API reference reads the package from ``build/docs-src/genomamba``: the source tree laid out
  as it is installed (``kernels/`` and ``configs/`` become ``genomamba.kernels`` and
  ``genomamba.configs`` through setuptools' ``package-dir``, which griffe's static loader does not
  follow): a copy of the Python files, since griffe resolves symlinks to their real folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
CARDS = ROOT / "genomamba" / "pretrained"
RESULTS = ROOT / "benchmarks" / "results"
API_SRC = ROOT / "build" / "docs-src"


def on_startup(command, dirty):  # noqa: ARG001 (MkDocs' hook signature)
    """Lay out the copy before any plugin reads its config: mkdocstrings' handler keeps only the
    ``paths`` that exist when it is set up, which is before this hook's ``on_config`` would run
    (a fresh clone's first build then could not collect ``genomamba.kernels``)."""
    package = API_SRC / "genomamba"
    shutil.rmtree(API_SRC, ignore_errors=True)
    python_only = shutil.ignore_patterns("__pycache__", "pretrained", "*.yaml", "*.md")
    shutil.copytree(ROOT / "genomamba", package, ignore=python_only)
    shutil.copytree(ROOT / "kernels", package / "kernels", ignore=python_only)


def on_files(files: Files, config) -> Files:
    for card in sorted(CARDS.glob("*/MODEL_CARD.md")):
        files.append(File.generated(config, f"models/{card.parent.name}.md", abs_src_path=str(card)))
    for result in sorted(RESULTS.iterdir()):
        if result.suffix in (".json", ".png"):
            files.append(File.generated(config, f"results/{result.name}", abs_src_path=str(result)))
    return files
