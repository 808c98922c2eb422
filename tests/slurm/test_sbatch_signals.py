"""train.sbatch's signal handling, with a stand-in for ``genomamba train`` on PATH (the real
trainer's save-on-SIGTERM and resume are covered by test_requeue.py): the time-limit warning
(--signal=TERM@N) makes the job requeue itself and resume with ckpt_path=last; scancel stops it
for good after the save."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

REPO_ROOT = Path(__file__).resolve().parents[2]
SBATCH = REPO_ROOT / "workflows" / "profiles" / "slurm" / "train.sbatch"

# Like genomamba on SIGTERM: save last.ckpt and exit 143; a resumed run (ckpt_path=last) finishes.
STAND_IN = """#!/bin/bash
run_dir=${2#run_dir=}; ckpt=${3#ckpt_path=}
if [ "$ckpt" = last ]; then echo "stand-in: resumed"; exit 0; fi
trap 'mkdir -p "$run_dir/checkpoints"; touch "$run_dir/checkpoints/last.ckpt"; echo "stand-in: saved"; exit 143' TERM
for i in $(seq 600); do sleep 1; done
"""


@pytest.fixture
def stand_in_env(slurm, tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "genomamba").write_text(STAND_IN)
    (bin_dir / "genomamba").chmod(0o755)
    return {**slurm.env, "PATH": f"{bin_dir}{os.pathsep}{slurm.env['PATH']}"}


def _sbatch(slurm, env: dict[str, str], tmp_path: Path, name: str, *flags: str) -> str:
    return slurm.sbatch(
        f"--chdir={tmp_path}", f"--output={tmp_path}/{name}.out", "--cpus-per-task=1", *flags,
        str(SBATCH), str(tmp_path / name), env=env,
    )


def test_time_limit_warning_requeues_and_resumes(slurm, stand_in_env, tmp_path: Path) -> None:
    # 2-minute limit, warning 100 s before it: the signal comes within the first minute
    job = _sbatch(slurm, stand_in_env, tmp_path, "limit", "--time=2", "--signal=TERM@100")
    info = slurm.wait_for(job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, timeout=300)
    out = (tmp_path / "limit.out").read_text()
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", (info, out)
    assert "stand-in: saved" in out and "requeueing job" in out, out
    assert "restart 1: ckpt_path=last" in out and "stand-in: resumed" in out, out


def test_scancel_saves_and_does_not_requeue(slurm, stand_in_env, tmp_path: Path) -> None:
    job = _sbatch(slurm, stand_in_env, tmp_path, "cancel")
    slurm.wait_for(job, {"RUNNING"}, timeout=120)
    out_file = tmp_path / "cancel.out"
    deadline = time.monotonic() + 60
    while "restart 0" not in (out_file.read_text() if out_file.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)  # let srun start the stand-in
    slurm.run("scancel", job)
    info = slurm.wait_for(job, {"CANCELLED", "COMPLETED", "FAILED"}, timeout=120)
    time.sleep(2)
    out = out_file.read_text()
    assert info["JobState"] == "CANCELLED" and info["Restarts"] == "0", (info, out)
    assert "stand-in: saved" in out and "requeueing" not in out, out
    assert (tmp_path / "cancel" / "checkpoints" / "last.ckpt").is_file()
