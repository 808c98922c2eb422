"""Runs the commands and code blocks of the README and the docs for tests/test_readme.py.

A *fork server*: one Python process imports genomamba's command-line apps, torch, Lightning,
Hydra, scikit-learn and Snakemake once, then forks a fresh child for every command. The child
changes into the sandbox, points its stdout and stderr at files and runs the command's own entry
point with the command's argv:

- ``genomamba ...``: ``genomamba.apps.cli:main``, the console script's entry point;
- ``snakemake ...``: ``snakemake.cli:main``;
- ``python -m module ...`` / ``python script.py ...``: :mod:`runpy`, as the interpreter does;
- a ``python`` block: executed as ``python -c`` would, as ``__main__``.

Each command therefore runs in its own process, from a state in which nothing has run yet, as if
it had been typed; only the imports (about 10 s of CPU per command on the 2-core CI machine) are
shared. The server computes nothing before forking (no thread pools exist to be lost in the child).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# The server: preload, then one JSON request per line on stdin, one JSON answer per line on stdout.
_SERVER = r"""
import json, os, runpy, signal, sys
import torch, lightning, hydra, sklearn.linear_model, sklearn.ensemble, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
import genomamba.apps.cli, genomamba.apps.train, genomamba.apps.finetune, genomamba.apps.score_variants
import genomamba.apps.variant_benchmark, genomamba.apps.make_variant_benchmark, genomamba.apps.demo
import genomamba.api, genomamba.training.train, genomamba.downstream.species.probe
import snakemake.cli

answers = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # nothing but answers goes to the answer pipe
answers.write(json.dumps({"ready": True}) + "\n")


def child(req):
    os.chdir(req["cwd"])
    for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    os.environ.clear()
    os.environ.update(req["env"])
    kind, argv = req["kind"], req["argv"]
    sys.argv = list(argv)
    if kind == "genomamba":
        from genomamba.apps.cli import main
        return main()
    if kind == "snakemake":
        from snakemake.cli import main
        return main()
    if kind == "module":
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
        return 0
    if kind == "script":
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")
        return 0
    if kind == "code":
        sys.argv = ["-c"]
        sys.path[0] = ""
        exec(compile(req["code"], "<doc block>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
        return 0
    raise ValueError(kind)


for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = child(req)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code if isinstance(code, int) else 1)
    deadline = req["timeout"]
    signal.signal(signal.SIGALRM, lambda *a: os.kill(pid, signal.SIGKILL))
    signal.alarm(int(deadline))
    _, status, usage = os.wait4(pid, 0)
    signal.alarm(0)
    rc = os.waitstatus_to_exitcode(status)
    answers.write(json.dumps({"rc": rc, "cpu": usage.ru_utime + usage.ru_stime}) + "\n")
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # wall-clock
    cpu_seconds: float  # user + system time of the command's process


class DocRunner:
    """A running fork server; ``run`` one command or block at a time (not thread-safe)."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.count = 0
        self.server_log = log_dir / "server.err"
        with open(self.server_log, "w") as server_err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=server_err,
                text=True, env=env, cwd=log_dir,
            )
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError(f"the doc runner's server did not start:\n{self.server_output()[-3000:]}")

    def server_output(self) -> str:
        """What the server printed while importing the apps: import-time output, which a command
        started afresh would print itself and a forked child does not."""
        return self.server_log.read_text(errors="replace")

    def run(self, kind: str, argv: list[str], cwd: Path, *, code: str = "", timeout: int = 600) -> Result:
        self.count += 1
        out, err = self.log_dir / f"{self.count:03d}.out", self.log_dir / f"{self.count:03d}.err"
        request = {"kind": kind, "argv": argv, "code": code, "cwd": str(cwd), "env": self.env,
                   "stdout": str(out), "stderr": str(err), "timeout": timeout}
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError("the doc runner's server died")
        done = json.loads(answer)
        return Result(done["rc"], out.read_text(errors="replace"), err.read_text(errors="replace"),
                      time.perf_counter() - t0, done["cpu"])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def runner_env() -> dict[str, str]:
    """The environment of the commands: this one, without the hugepage re-exec of the CLI (the
    fork server runs the entry point in-process; the re-exec would start a new interpreter) and
    without the test suite's TRITON_INTERPRET (a user's shell does not set it; the kernel report
    compiles for real GPUs and refuses an interpreter-mode triton, which the preloaded imports
    would otherwise fix for every child)."""
    env = {**os.environ, "GENOMAMBA_MALLOC_HUGEPAGES": "0", "MPLBACKEND": "Agg"}
    env.pop("TRITON_INTERPRET", None)
    return env
