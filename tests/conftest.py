"""Shared pytest configuration.

CUDA is never queried at import time; ``gpu``-marked tests are skipped at collection when
no CUDA device is present (the CPU suite must always pass on its own).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

# Without CUDA the Triton kernels run on CPU tensors through the Triton interpreter. Triton
# reads TRITON_INTERPRET when triton.language is first imported (and torch / Lightning /
# transformers may import triton during collection), so it is set here, in the root conftest,
# before any test module is imported. is_available() only counts devices; no CUDA context.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# `make test` runs one pytest-xdist worker per core. Each worker, and every process it starts
# (inherited environment), computes on one thread: two workers with torch's default of one thread
# per core would oversubscribe the cores, and spinning OpenMP threads then slow both workers down.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; run on a GPU machine")
    for item in gpu_items:
        item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer, d_model=32 causal model saved with the public API
    (the workflow tests' model: untrained, so it checks plumbing, not accuracy)."""
    import genomamba

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_model") / "model"
    genomamba.GenomambaLM(genomamba.GenomambaConfig(d_model=32, n_layer=2)).save_pretrained(path)
    return path


@pytest.fixture(autouse=True)
def _root_logging_as_found():
    """Hydra apps run in-process (``genomamba train`` in test_cli, ...) add handlers to the root logger
    bound to that test's captured stderr; pytest closes it afterwards, and a later test's log record
    then prints a '--- Logging error ---' traceback. Each test leaves the root logger as it found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)

