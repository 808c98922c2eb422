"""A real single-node SLURM cluster (slurmctld + slurmd + munged) for the ``slurm``-marked tests.

These tests are deselected from ``make test`` (``-m "not slurm"`` in pytest's addopts); run them
with ``make test-slurm``. They need Debian's ``slurm-wlm`` and ``munge`` packages
(``tests/slurm/cluster.sh install``) and root, because slurmd starts the jobs. The session
fixture starts a cluster with ``tests/slurm/cluster.sh`` in a temporary directory and stops it at
the end; when ``SLURM_CONF`` points at a running cluster it uses that one instead, which must be
shaped like cluster.sh's (partitions ``cpu`` and ``gpu``, a ``gpu`` GRES, >= 8 CPUs per node).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO_ROOT / "tests" / "slurm" / "cluster.sh"


@dataclass
class SlurmCluster:
    """Commands against the test cluster; ``env`` carries SLURM_CONF and the venv's PATH."""

    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(args, env=env or self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def sbatch(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Submit (the job gets ``env``, default ``self.env``); returns the job id."""
        return self.run("sbatch", "--parsable", *args, env=env).stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (JobState, Restarts, ExitCode, ...)."""
        out = self.run("scontrol", "show", "job", "-o", job_id).stdout
        return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)

    def wait_for(self, job_id: str, states: set[str], timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            info = self.job(job_id)
            if info.get("JobState") in states:
                return info
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} not in {states} after {timeout:.0f} s: {info}")
            time.sleep(1)


def _free_port_pair() -> int:
    """A port p with p and p + 1 free on 127.0.0.1 (slurmctld and slurmd)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


def _cluster_answers(env: dict[str, str]) -> bool:
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True, timeout=30)
    return proc.returncode == 0 and any(state in proc.stdout for state in ("idle", "mix", "alloc"))


@pytest.fixture(scope="session")
def slurm() -> Iterator[SlurmCluster]:
    # The venv's genomamba/snakemake must be what jobs run: put its bin/ first on PATH
    # (sbatch exports the submitting environment to the job).
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("SLURM_JOB_ID", None)  # a test run inside a SLURM job must not look like a job step
    if os.environ.get("SLURM_CONF") and shutil.which("sinfo") and _cluster_answers(env):
        yield SlurmCluster(env)
        return
    missing = [exe for exe in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(exe) is None]
    if missing:
        pytest.fail(
            f"the slurm tests need a SLURM installation ({', '.join(missing)} not found): run "
            f"`{CLUSTER_SH} install` (apt-get install slurm-wlm munge), or point SLURM_CONF at a running cluster"
        )
    # Unix socket paths are limited to ~107 bytes: keep the cluster directory short.
    directory = Path(tempfile.mkdtemp(prefix="gm-slurm.", dir="/tmp"))
    env["SLURM_TEST_PORT"] = str(_free_port_pair())
    start = subprocess.run([str(CLUSTER_SH), "start", str(directory)], env=env, capture_output=True, text=True, timeout=120)
    if start.returncode != 0:
        subprocess.run([str(CLUSTER_SH), "stop", str(directory)], env=env, timeout=60)
        pytest.fail(f"could not start the SLURM test cluster:\n{start.stdout}\n{start.stderr}")
    env["SLURM_CONF"] = str(directory / "slurm.conf")
    try:
        yield SlurmCluster(env)
    finally:
        jobs = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=60)
        if jobs.stdout.split():
            subprocess.run(["scancel", *jobs.stdout.split()], env=env, capture_output=True, timeout=60)
        subprocess.run([str(CLUSTER_SH), "stop", str(directory)], env=env, capture_output=True, timeout=120)
        shutil.rmtree(directory, ignore_errors=True)
