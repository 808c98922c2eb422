"""Output guards (issue 36): strict JSON through one helper, outputs that are inputs, the
run-directory lock, and the one-line messages of signals, warnings and bugs."""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest

from genomamba.errors import ConfigError
from genomamba.outputs import (
    LOCK_NAME,
    OutputError,
    RunDirBusyError,
    check_not_input,
    check_run_name,
    hold_run_dir,
    is_launch_rank_zero,
    json_text,
    run_dir_holder,
    same_file,
    write_json,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _strict_loads(text: str) -> object:
    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_write_json_is_strict_and_says_why_a_value_is_missing(tmp_path: Path) -> None:
    doc = {"auroc": math.nan, "scores": [1.0, math.inf], "n": np.int64(3), "x": np.float32(0.5),
           "arr": np.array([0.25, -np.inf]), "path": tmp_path, "ok": {"a": 1}}
    out = write_json(tmp_path / "m.json", doc)
    back = _strict_loads(out.read_text())
    assert back["auroc"] is None and back["scores"] == [1.0, None] and back["arr"] == [0.25, None]
    assert back["n"] == 3 and back["x"] == 0.5 and back["path"] == str(tmp_path) and back["ok"] == {"a": 1}
    assert back["null_reasons"] == {"auroc": "not a number (NaN): undefined for these data",
                                    "scores[1]": "infinite (+inf)", "arr[1]": "infinite (-inf)"}
    assert "null_reasons" not in _strict_loads(json_text({"a": 1.5}))
    assert os.listdir(tmp_path) == ["m.json"]  # atomic: no temporary file left


def test_no_json_is_written_outside_the_one_helper() -> None:
    """Every JSON the package and its workflows write goes through genomamba.outputs (strict)."""
    offenders = []
    for root in ("genomamba", "workflows"):
        for path in (REPO_ROOT / root).rglob("*.py"):
            if path.name == "outputs.py" and path.parent.name == "genomamba":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"\bjson\.dumps?\(", line):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_same_file_sees_through_symlinks_and_hard_links(tmp_path: Path) -> None:
    a = tmp_path / "a.vcf"
    a.write_text("x")
    (tmp_path / "link").symlink_to(a)
    os.link(a, tmp_path / "hard.vcf")
    assert same_file(a, tmp_path / "link") and same_file(a, tmp_path / "hard.vcf")
    assert same_file(tmp_path / "sub" / ".." / "a.vcf", a)
    assert not same_file(a, tmp_path / "b.vcf")
    with pytest.raises(OutputError, match="--out .*hard.vcf and --vcf .*a.vcf are the same file"):
        check_not_input(tmp_path / "hard.vcf", "--out", {"--vcf": str(a), "--labels": None})
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    with pytest.raises(OutputError, match="is a file of --model"):
        check_not_input(tmp_path / "model" / "config.json", "--out", {"--model": tmp_path / "model"})
    check_not_input(tmp_path / "model" / "new.tsv", "--out", {"--model": tmp_path / "model"})  # a new file is fine
    with pytest.raises(OutputError, match="would write over"):
        check_not_input(tmp_path, "run_dir", {"module.init_from": tmp_path / "model"}, replaces_dir=True)


@pytest.mark.parametrize("name", ["", " ", "..", ".", "a/b", "../escape", "a\nb"])
def test_a_run_name_is_one_folder_name(name: str) -> None:
    with pytest.raises(ConfigError, match="name="):
        check_run_name(name)


def test_run_dir_lock(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "x"
    with hold_run_dir(run) as d:
        assert d == run and (run / LOCK_NAME).is_file()
        text = (run / LOCK_NAME).read_text()
        assert f"pid={os.getpid()}" in text and "host=" in text
        with hold_run_dir(run):  # reentrant within the process (dispatcher, then train())
            pass
        assert (run / LOCK_NAME).is_file()
        assert run_dir_holder(run) is None  # our own
        # another open file description, as another process would have, cannot take it
        fd = os.open(run / LOCK_NAME, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    assert not (tmp_path / "runs").exists()  # the directories it made, left empty, are gone again

    # a lock file left by a killed run (no process holds it) is no obstacle
    run.mkdir(parents=True)
    (run / LOCK_NAME).write_text("pid=999999 host=gone started=2020-01-01T00:00:00\n")
    with hold_run_dir(run):
        assert f"pid={os.getpid()}" in (run / LOCK_NAME).read_text()
    assert os.listdir(run) == []  # the directory existed before: kept, only the lock file goes

    # held by someone else: refused, naming the holder, and nothing written
    fd = os.open(run / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"pid=4242 host=node7 started=2025-01-01T10:00:00\n")
    try:
        assert run_dir_holder(run) == "pid 4242 on host node7, since 2025-01-01 10:00:00"
        with pytest.raises(RunDirBusyError, match="in use by another genomamba run \\(pid 4242 on host node7"), hold_run_dir(run):
            pass
        with pytest.raises(RunDirBusyError, match="inside run directory"), hold_run_dir(run / "sub"):
            pass
        assert os.listdir(run) == [LOCK_NAME]
    finally:
        os.close(fd)


@pytest.mark.parametrize(("env", "zero"), [({}, True), ({"LOCAL_RANK": "0", "NODE_RANK": "0"}, True),
                                           ({"LOCAL_RANK": "1"}, False), ({"NODE_RANK": "1"}, False),
                                           ({"SLURM_PROCID": "3"}, False), ({"RANK": "2"}, False)])
def test_only_launch_rank_zero_holds_the_run_dir(monkeypatch: pytest.MonkeyPatch, env: dict, zero: bool) -> None:
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert is_launch_rank_zero() is zero


def test_a_ddp_worker_does_not_wait_for_rank_zeros_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank 0 holds the run directory; a worker (LOCAL_RANK=1) shares it and goes on."""
    from omegaconf import OmegaConf

    from genomamba.apps.hydra_app import prepared_run

    run = tmp_path / "run"
    run.mkdir()
    fd = os.open(run / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    compose = lambda: OmegaConf.create({"name": "x", "run_dir": str(run)})  # noqa: E731
    try:
        monkeypatch.setenv("LOCAL_RANK", "1")
        with prepared_run("train", compose, lambda cfg: None) as cfg:
            assert Path(cfg.run_dir) == run
        monkeypatch.setenv("LOCAL_RANK", "0")
        with pytest.raises(RunDirBusyError), prepared_run("train", compose, lambda cfg: None):
            pass
    finally:
        os.close(fd)


def test_demo_and_train_give_the_same_config_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from genomamba.apps.cli import main

    monkeypatch.chdir(tmp_path)
    lines = []
    for argv in (["train", "trainer.max_stepz=3"], ["demo", "trainer.max_stepz=3"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        lines.append(err[0])
    assert lines[0] == lines[1] and "trainer.max_stepz" in lines[0]
    assert os.listdir(tmp_path) == []


def test_ctrl_c_is_announced_as_sigint_and_sigterm_as_sigterm(tmp_path: Path) -> None:
    """Lightning's "Received SIGTERM: 15" used to come before "interrupted by SIGINT": a Ctrl-C
    (sent on as SIGTERM) now drops it, a real SIGTERM gets it reworded."""
    from genomamba.training.callbacks import _SIGNAL_LOGGER, GracefulShutdown

    shutdown = GracefulShutdown(tmp_path / "last.ckpt")
    record = logging.LogRecord(_SIGNAL_LOGGER, logging.INFO, __file__, 1, "[rank: 0] Received SIGTERM: %s", (15,), None)
    assert shutdown._notice.filter(record) and record.getMessage() == (
        "SIGTERM received: stopping after the current step and saving last.ckpt")
    shutdown.interrupted_by = signal.SIGINT
    record = logging.LogRecord(_SIGNAL_LOGGER, logging.INFO, __file__, 1, "Received SIGTERM: %s", (15,), None)
    assert not shutdown._notice.filter(record)


def test_warnings_are_one_line_without_site_packages_paths() -> None:
    from genomamba.apps.quiet import format_warning

    path = "/x/.venv/lib/python3.11/site-packages/lightning/pytorch/loops/fit_loop.py"
    line = format_warning(UserWarning("The number of training batches (8) is\n smaller"), UserWarning, path, 321)
    assert line == "warning: The number of training batches (8) is smaller [UserWarning, lightning]\n"
