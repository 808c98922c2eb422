"""The README runs as written: every ```python block and every command of every ```bash block.

All commands run in order in one sandbox directory (with ``data/`` linked to the repository's),
so later commands use what earlier ones made (``runs/my_run`` from the first ``train`` line, its
resume with ``ckpt_path=last``, then ``evaluate``, ``finetune`` and ``score-variants`` on it).
Placeholder paths are mapped to bundled files (``PLACEHOLDERS``). Three things are changed, and
only these:
- ``genomamba train`` / ``finetune`` / ``variant-benchmark`` / ``score-variants`` get options
  *appended* that shrink the model, the number of steps or the scoring window (``SHRINK``): the command line, config groups, keys and files are exercised as written;
- ``snakemake`` commands run as dry runs (``-n``), which parse the workflow, validate the config
  against its schema and check every input path;
- ``TO_SKIP`` lists commands that cannot run in CI, each with its reason. The test fails when a
  README command is neither run nor listed there, so the list cannot rot silently.
The Python blocks load ``runs/demo``, made here by a short training run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
BIN = Path(sys.executable).parent

PLACEHOLDERS = {
    "/path/genome.fa.gz": "data/genomes/escherichia_coli_536.fa.gz",
    "/path/genome.fa": "data/genomes/escherichia_coli_536.fa.gz",
    "/data/genome.fa.gz": "data/genomes/escherichia_coli_536.fa.gz",
    "ref.fa.gz": "data/genomes/escherichia_coli_536.fa.gz",
    "my.vcf.gz": "data/variants/ecoli536_repeat_snvs.vcf",
    "/shared/runs/my_run/model": "runs/my_run/model",
    "/shared/species.tsv": "data/species.tsv",
}

_SHRINK_MODEL = ["model.d_model=32", "data.window_length=128", "data.batch_size=2"]
SHRINK = {
    "train": [
        *_SHRINK_MODEL, "trainer.max_steps=2", "trainer.val_check_interval=1", "trainer.limit_val_batches=1",
        "eval.max_windows=2", "eval.orders=[1,2]", "trainer.enable_progress_bar=false",
    ],
    "finetune": [
        "trainer.max_steps=2", "trainer.val_check_interval=1", "trainer.enable_progress_bar=false",
        "task.data.window_length=128", "task.data.batch_size=2", "task.data.n_val_windows=2", "task.data.n_test_windows=2",
    ],
}
SHRINK["variant-benchmark"] = ["--window", "64", "--orders", "2", "3", "--embed-window", "32", "--cv", "2"]
SHRINK["score-variants"] = ["--window", "64"]
# finetune task=variant_effect ignores the species overrides; its own are these.
SHRINK_VARIANT_EFFECT = ["task.head.cv=2", "task.head.window=32", "task.head.zero_shot_window=32", f"task.labels={REPO_ROOT}/data/variants/ecoli536_repeat_snvs.labels.tsv"]

# (regex on the command, reason): commands the test does not run.
TO_SKIP = [
    (r"^make (demo|test|bench)\b", "the quickstart itself: `.ci/run` runs `make test`; `make demo` is run by hand before each release"),
    (r"^python -m venv|^\. \.venv/bin/activate|^pip install", "installation steps, done by `.ci/run` in a fresh clone"),
    (r"^genomamba demo$", "the same steps as `make demo`"),
    (r"trainer=(gpu|ddp)", "needs CUDA devices"),
    (r"^make gpu-check", "needs a CUDA device"),
    (r"^make triton36-report", "downloads triton 3.6 into a side venv (~5 min); `.ci/run` runs it with GENOMAMBA_CI_TRITON36=1"),
    (r"^python -m genomamba\.kernels\.report --arch sm_80 sm_90$",
     "compiles every configuration (~1 min); tests/kernels/test_scan_resources.py compiles the same set"),
    (r"^sbatch ", "needs a SLURM cluster; tests/slurm submits the same script to a real one (make test-slurm)"),
    (r"^python benchmarks/bench_data\.py", "a timed benchmark (CI runs no timed work)"),
    (r"^genomamba make-relative-track ", "aligns every gene of a 5 Mb genome (1.5 min); tests/downstream/test_track_scoring.py "
     "runs the command on a 30 kb slice, and data/README.md gives the commands that made data/tracks/"),
]
# Python commands run with this interpreter (so they see the installed genomamba).
PYTHON_OK = [r"^python -m genomamba\.kernels\.report ", r"^python benchmarks/bench_scan\.py --roofline-only"]


# Messages from dependencies that a user cannot act on (issue 16); none may reach a user's terminal.
NOISE = [
    "litlogger", "LeafSpec", "weights_only", "Epoch 0/", "v_num", "Total FLOPs",
    "srun` command is available", "exists and is not empty", "Traceback",
]


def assert_quiet(text: str, what: str) -> None:
    found = [n for n in NOISE if n in text]
    assert not found, f"{what} printed dependency noise {found}:\n{text[-2000:]}"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def _commands(block: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _substitute(cmd: str) -> str:
    for placeholder in sorted(PLACEHOLDERS, key=len, reverse=True):
        cmd = re.sub(rf"(?<![\w/.]){re.escape(placeholder)}(?![\w/.])", PLACEHOLDERS[placeholder], cmd)
    return cmd


def argv_tool(cmd: str) -> str:
    return shlex.split(cmd)[0]


def _skip_reason(cmd: str) -> str | None:
    return next((reason for pattern, reason in TO_SKIP if re.search(pattern, cmd)), None)


def _runnable(cmd: str) -> list[str]:
    argv = shlex.split(_substitute(cmd))
    tool = argv[0]
    if tool == "genomamba":
        sub = argv[1]
        if sub == "finetune" and "task=variant_effect" in argv:
            argv += SHRINK_VARIANT_EFFECT
        else:
            argv += SHRINK.get(sub, [])
    elif tool == "python" and any(re.search(p, cmd) for p in PYTHON_OK):
        return [sys.executable, *argv[1:]]
    elif tool == "snakemake":
        if "-n" not in argv:
            argv.append("-n")
    else:
        raise AssertionError(f"README command neither run nor listed in TO_SKIP: {cmd}")
    return [str(BIN / tool) if (BIN / tool).exists() else tool, *argv[1:]]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's checkout: ``data/``, ``workflows/`` and ``benchmarks/`` linked from the repository,
    and ``runs/demo`` (a model) made here; everything the commands write stays in the sandbox."""
    from genomamba.training.compose import compose_config
    from genomamba.training.train import train

    root = tmp_path_factory.mktemp("readme")
    for shared in ("data", "workflows", "benchmarks"):  # the README's commands run from the repository root
        (root / shared).symlink_to(REPO_ROOT / shared)
    cfg = compose_config(
        [
            "experiment=demo", f"run_dir={root / 'runs' / 'demo'}", f"paths.data_dir={root / 'data'}",
            *SHRINK["train"], "trainer.enable_model_summary=false",
        ]
    )
    train(cfg)
    return root


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GENOMAMBA_MALLOC_HUGEPAGES": "0"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _shell_commands() -> list[tuple[str, str | None]]:
    """(command, reason it is not run, or None) for every command of every bash block."""
    out = []
    for block in _blocks("bash"):
        script = block.startswith("#!")  # a batch script for a cluster scheduler
        for cmd in _commands(block):
            out.append((cmd, "part of a SLURM batch script; needs a SLURM cluster" if script else _skip_reason(cmd)))
    return out


def test_every_readme_command_is_run_or_skipped_for_a_stated_reason() -> None:
    commands = _shell_commands()
    assert len(commands) > 10
    for cmd, skipped in commands:
        if skipped is None:
            _runnable(cmd)  # raises for a command this test would not know how to run


@pytest.mark.slow
def test_readme_python_blocks_run(sandbox: Path) -> None:
    blocks = _blocks("python")
    assert blocks, "README has no python blocks"
    for block in blocks:
        proc = _run([sys.executable, "-c", block], sandbox)
        assert proc.returncode == 0, f"README python block failed:\n{block}\n--- stderr ---\n{proc.stderr[-3000:]}"


@pytest.mark.slow
def test_readme_shell_commands_run(sandbox: Path) -> None:
    ran = 0
    for cmd, skipped in _shell_commands():
        if skipped:
            continue
        proc = _run(_runnable(cmd), sandbox)
        assert proc.returncode == 0, f"README command failed: {cmd}\n--- stderr ---\n{proc.stderr[-3000:]}"
        if argv_tool(cmd) == "genomamba":
            assert_quiet(proc.stdout + proc.stderr, cmd)
        ran += 1
    assert ran >= 8
