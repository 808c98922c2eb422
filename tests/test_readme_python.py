"""The README's and the docs' ```python blocks run as written (see tests/test_readme.py, which
runs their shell commands): each in its own process, in a sandbox checkout where ``runs/demo`` was
made by a short training run. A file of its own, so that pytest-xdist runs it beside the commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from doc_runner import DocRunner
from test_readme import LINKED, assert_outputs_ignored, make_sandbox, python_blocks, start_runner, untracked


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocRunner]:
    yield from start_runner(tmp_path_factory)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, runner: DocRunner) -> Path:
    return make_sandbox(tmp_path_factory, runner)


def test_docs_have_python_blocks() -> None:
    assert len(python_blocks()) > 10


@pytest.mark.slow
def test_doc_python_blocks_run(sandbox: Path, runner: DocRunner) -> None:
    before = untracked(LINKED)
    for block in python_blocks():
        proc = runner.run("code", [], sandbox, code=block.text)
        assert proc.returncode == 0, f"{block.where}: python block failed:\n{block.text}\n--- stderr ---\n{proc.stderr[-3000:]}"
    assert_outputs_ignored(sandbox, before)
