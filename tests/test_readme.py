"""The README and the docs run as written: every command of every ```bash block of README.md,
docs/**/*.md and the model cards (which the docs site shows); their ```python blocks run in
tests/test_readme_python.py, with this file's sandbox, beside this one under pytest-xdist.

Commands run in order in one sandbox directory (with ``data/``, ``workflows/`` and
``benchmarks/`` linked to the repository's, as in a checkout), so later commands use what earlier
ones made. ``runs/demo``, what ``make demo`` leaves, is made first by a short training run. A
command that appears in several places runs once. Each runs in its own process through
``tests/doc_runner.py`` (a fork server: the imports are shared, nothing else). Only these things
are changed:
- placeholder paths are mapped to bundled files (``PLACEHOLDERS``);
- ``genomamba train`` / ``finetune`` / ``evaluate`` / ``variant-benchmark`` / ``score-variants``
  get options *appended* that shrink the model, the number of steps or windows, or the scoring
  window (``SHRINK``): the command line, config groups, keys and files are exercised as written;
- the bundled labelled variant sets are replaced by a slice of themselves made in the sandbox
  (``SLICED_BENCHMARKS``);
- ``snakemake`` commands run as dry runs (``-n``), which parse the workflow, validate the config
  against its schema and check every input path;
- ``TO_SKIP`` lists commands that cannot run in CI, each with its reason. The test fails when a
  command is neither run nor listed there, so the list cannot rot silently.
Every file the commands write must land in a folder that git ignores (``runs/``, ``results/`` ...),
so that following the docs leaves a checkout clean.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from doc_runner import DocRunner, runner_env

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOC_FILES = [
    REPO_ROOT / "README.md",
    *sorted((REPO_ROOT / "docs").rglob("*.md")),
    *sorted((REPO_ROOT / "genomamba" / "pretrained").glob("*/MODEL_CARD.md")),
]
# The repository folders a checkout's commands read, linked into the sandbox.
LINKED = ("data", "workflows", "benchmarks")

PLACEHOLDERS = {
    "/path/genome.fa.gz": "data/genomes/escherichia_coli_536.fa.gz",
    "/path/genome.fa": "data/genomes/escherichia_coli_536.fa.gz",
    "/shared/genome.fa.gz": "data/genomes/escherichia_coli_536.fa.gz",
    "/shared/runs/my_run/model": "runs/demo/model",
    "/shared/species.tsv": "data/species.tsv",
    "my.vcf.gz": "data/variants/ecoli536_repeat_snvs.vcf",
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
    "evaluate": ["--max-windows", "2", "--orders", "1", "2"],
    "variant-benchmark": ["--window", "64", "--orders", "2", "3", "--embed-window", "32", "--cv", "2"],
    "score-variants": ["--window", "64"],
}
# finetune task=variant_effect ignores the species overrides; its own are these.
SHRINK_VARIANT_EFFECT = ["task.head.cv=2", "task.head.window=32", "task.head.zero_shot_window=32"]
# Labelled variant sets (a VCF and a labels TSV per prefix) replaced by a slice made in the sandbox:
# the first SLICE_PER_CLASS SNVs of every class (consequence and sample, or label and bin).
# Scoring all 3,600 SNVs of a gene benchmark is minutes of work per command; the slice runs the
# same code on every class.
SLICED_BENCHMARKS = ["data/variants/ecoli536_genes_last5pct", "data/variants/ecoli536_repeat_snvs"]
SLICE_PER_CLASS = 6

# (regex on the command, reason): commands the test does not run.
TO_SKIP = [
    (r"^make (demo|test|bench|test-slurm|test-latest|lock)\b", "the quickstart and CI targets themselves: `.ci/run` runs `make test`; "
     "`make demo` is run by hand before each release"),
    (r"^python -m venv|^\. \.venv/bin/activate|^pip install", "installation steps, done by `.ci/run` in a fresh clone"),
    (r"^mkdocs (build|serve)", "tests/test_docs_site.py builds the site with `mkdocs build --strict`"),
    (r"^make lint$", "runs ruff over the sources: a development step, not a use of genomamba"),
    (r"^genomamba demo$", "the same steps as `make demo`"),
    (r"trainer=(gpu|ddp)", "needs CUDA devices"),
    (r"^make gpu-check", "needs a CUDA device"),
    (r"^make triton36-report", "downloads triton 3.6 into a side venv (~5 min); `.ci/run` runs it with GENOMAMBA_CI_TRITON36=1"),
    (r"^python -m genomamba\.kernels\.report --arch sm_80 sm_90$",
     "compiles every configuration (~1 min); tests/kernels/test_scan_resources.py compiles the same set"),
    (r"^sbatch ", "needs a SLURM cluster; tests/slurm submits the same script to a real one (make test-slurm)"),
    (r"--profile workflows/profiles/slurm", "submits to a SLURM cluster; make test-slurm runs the species workflow through this profile"),
    (r"^MASTER_ADDR=", "one node of a multi-node run; tests/training/test_ddp_nodes.py starts two such nodes on one machine"),
    (r"^python benchmarks/(bench_data|bench_model|bench_scan|ingredients|tradeoff|species_probe|species_ceiling|"
     r"track_model_eval|missense_ceiling|relative_strain|compare_scorers)\.py(?! --roofline-only)",
     "a benchmark run (minutes to hours; CI runs no timed work): tests/test_benchmark_tables.py and tests/benchmark_scripts.py "
     "test the benchmark scripts on small inputs"),
    (r"^genomamba make-relative-track ", "aligns every gene of a 5 Mb genome (1.5 min); tests/downstream/test_track_scoring.py "
     "runs the command on a 30 kb slice, and data/README.md gives the commands that made data/tracks/"),
    (r"^genomamba train .*trainer\.max_steps=(1500|2200|4000)\b",
     "the training command of a shipped model (22 min to hours on a CPU); the train guide's commands run the same groups and keys"),
]
# Plain shell commands the docs use to prepare a folder; run as they are.
SHELL_OK = [r"^mkdir -p [\w/.-]+$"]
# Python commands run with this interpreter (so they see the installed genomamba).
PYTHON_OK = [r"^python -m genomamba\.kernels\.report ", r"^python benchmarks/bench_scan\.py --roofline-only"]
# Fenced blocks that are not code: shown output, a directory tree.
NOT_CODE = {"text"}

# Messages from dependencies that a user cannot act on (issue 16); none may reach a user's terminal.
NOISE = [
    "litlogger", "LeafSpec", "weights_only", "Epoch 0/", "v_num", "Total FLOPs",
    "srun` command is available", "exists and is not empty", "Traceback",
]


def assert_quiet(text: str, what: str) -> None:
    found = [n for n in NOISE if n in text]
    assert not found, f"{what} printed dependency noise {found}:\n{text[-2000:]}"


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"


_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


def blocks(paths: list[Path] = DOC_FILES) -> list[Block]:
    """Every fenced block of ``paths``, dedented (blocks inside lists and admonitions are indented)."""
    out = []
    for path in paths:
        text = path.read_text()
        for m in _FENCE.finditer(text):
            out.append(Block(path, text.count("\n", 0, m.start()) + 1, m.group("lang"), textwrap.dedent(m.group("body"))))
    return out


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


def _skip_reason(cmd: str) -> str | None:
    return next((reason for pattern, reason in TO_SKIP if re.search(pattern, cmd)), None)


def _sliced(arg: str) -> str:
    """``arg`` with a sliced input's path replaced, as an argument or as a ``key=path`` override."""
    key, eq, value = arg.partition("=")
    if eq and value in SLICED:
        return f"{key}={SLICED[value]}"
    return SLICED.get(arg, arg)


def runnable(cmd: str) -> tuple[str, list[str]]:
    """(kind for the doc runner, argv) of a command as the test runs it."""
    argv = shlex.split(_substitute(cmd))
    tool = argv[0]
    argv = [_sliced(a) for a in argv]
    if tool == "genomamba":
        sub = argv[1]
        if sub == "finetune" and "task=variant_effect" in argv:
            argv += SHRINK_VARIANT_EFFECT
        elif any(a.startswith("-") for a in argv[2:]) and sub in ("train", "finetune"):
            pass  # Hydra's own flags (--help, --cfg job): nothing is trained, and overrides after them are refused
        elif sub == "train" and any(a.startswith("module.init_from=") for a in argv):
            argv += [a for a in SHRINK["train"] if not a.startswith("model.")]  # the saved model's size stays
        else:
            argv += SHRINK.get(sub, [])
        return "genomamba", [str(BIN / "genomamba"), *argv[1:]]
    if tool == "python" and any(re.search(p, cmd) for p in PYTHON_OK):
        if argv[1] == "-m":
            return "module", argv[2:]
        return "script", argv[1:]
    if tool == "snakemake":
        if "-n" not in argv:
            argv.append("-n")
        return "snakemake", argv
    if any(re.search(p, cmd) for p in SHELL_OK):
        return "shell", argv
    raise AssertionError(f"doc command neither run nor listed in TO_SKIP: {cmd}")


SLICED = {
    f"{prefix}{suffix}": f"runs/doc-test-inputs/{Path(prefix).name}{suffix}"
    for prefix in SLICED_BENCHMARKS for suffix in ("", ".vcf", ".labels.tsv")
}


def write_benchmark_slice(prefix: Path, out: Path) -> None:
    """The first SLICE_PER_CLASS SNVs of each class of a labelled variant set (three times as many
    of a gene benchmark's uniform sample, which is split by codon position), as a set of its own
    (``out.vcf``, ``out.labels.tsv``)."""
    header, *rows = Path(f"{prefix}.labels.tsv").read_text().splitlines(keepends=True)
    columns = header.rstrip("\n").split("\t")
    kept, taken = [], {}
    for row in rows:
        r = dict(zip(columns, row.rstrip("\n").split("\t"), strict=True))
        group = tuple(r.get(key) for key in ("consequence", "sample", "label", "bin"))
        if taken.get(group, 0) < (SLICE_PER_CLASS * 3 if r.get("sample") == "uniform" else SLICE_PER_CLASS):
            taken[group] = taken.get(group, 0) + 1
            kept.append((r["id"], row))
    ids = {i for i, _ in kept}
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.labels.tsv").write_text(header + "".join(row for _, row in kept))
    vcf = Path(f"{prefix}.vcf").read_text().splitlines(keepends=True)
    Path(f"{out}.vcf").write_text("".join(ln for ln in vcf if ln.startswith("#") or ln.split("\t")[2] in ids))


@dataclass(frozen=True)
class Command:
    text: str
    where: str
    skipped: str | None


def shell_commands() -> list[Command]:
    """Every command of every bash block, each once (where it first appears), with the reason it
    is not run, or None."""
    seen: dict[str, Command] = {}
    for block in blocks():
        if block.lang not in ("bash", "sh"):
            continue
        script = block.text.startswith("#!")  # a batch script for a cluster scheduler
        for cmd in _commands(block.text):
            key = _substitute(cmd)
            if key not in seen:
                reason = "part of a SLURM batch script; needs a SLURM cluster" if script else _skip_reason(cmd)
                seen[key] = Command(cmd, block.where, reason)
    return list(seen.values())


def python_blocks() -> list[Block]:
    unique: dict[str, Block] = {}
    for block in blocks():
        if block.lang == "python":
            unique.setdefault(block.text, block)
    return list(unique.values())


def test_every_doc_block_is_code_or_marked_as_text() -> None:
    found = blocks()
    assert len(found) > 40 and any(b.path.name == "README.md" for b in found)
    for block in found:
        assert block.lang in {"bash", "sh", "python"} | NOT_CODE, (
            f"{block.where}: a ```{block.lang or '(no language)'} block: name it bash or python (it runs in this "
            f"test) or text (shown output, not code)")


def test_every_doc_command_is_run_or_skipped_for_a_stated_reason() -> None:
    commands = shell_commands()
    assert len(commands) > 20
    for cmd in commands:
        if cmd.skipped is None:
            runnable(cmd.text)  # raises for a command this test would not know how to run


def _ignored_by_git(name: str) -> bool:
    return subprocess.run(["git", "-C", str(REPO_ROOT), "check-ignore", "-q", "--no-index", f"{name}/x"]).returncode == 0


def untracked(paths: tuple[str, ...]) -> str:
    return subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=all", "--", *paths],
                          capture_output=True, text=True).stdout


def start_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocRunner]:
    """The fork server of a test module (``yield from`` it in a module-scoped fixture)."""
    doc_runner = DocRunner(tmp_path_factory.mktemp("doc-runner-logs"), runner_env())
    yield doc_runner
    doc_runner.close()


def make_sandbox(tmp_path_factory: pytest.TempPathFactory, runner: DocRunner) -> Path:
    """A user's checkout after ``make demo``: the repository's folders linked, ``runs/demo`` made
    here by a short training run, and the input slices; everything the commands write stays here."""
    root = tmp_path_factory.mktemp("readme")
    for shared in LINKED:
        (root / shared).symlink_to(REPO_ROOT / shared)
    demo = runner.run("genomamba", [str(BIN / "genomamba"), "train", "experiment=demo", "run_dir=runs/demo", *SHRINK["train"],
                                    "trainer.enable_model_summary=false"], root)
    assert demo.returncode == 0, demo.stderr[-3000:]
    for prefix in SLICED_BENCHMARKS:
        write_benchmark_slice(REPO_ROOT / prefix, root / SLICED[prefix])
    return root


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocRunner]:
    yield from start_runner(tmp_path_factory)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, runner: DocRunner) -> Path:
    return make_sandbox(tmp_path_factory, runner)


def assert_outputs_ignored(root: Path, before: str) -> None:
    """Everything the doc commands wrote into the sandbox is in a folder git ignores, and nothing
    was written into the repository's folders linked there (``before``: their untracked files)."""
    written = sorted(set(p.name for p in root.iterdir()) - set(LINKED))
    stray = [name for name in written if not _ignored_by_git(name)]
    assert not stray, f"doc commands wrote {stray} into the checkout, outside the folders git ignores (runs/, results/ ...)"
    assert untracked(LINKED) == before, "doc commands wrote files into the repository's data/, workflows/ or benchmarks/"


@pytest.mark.slow
def test_doc_shell_commands_run(sandbox: Path, runner: DocRunner) -> None:
    before = untracked(LINKED)
    ran = 0
    for cmd in shell_commands():
        if cmd.skipped:
            continue
        kind, argv = runnable(cmd.text)
        if kind == "shell":
            proc = subprocess.run(argv, cwd=sandbox, capture_output=True, text=True)
        else:
            proc = runner.run(kind, argv, sandbox)
        assert proc.returncode == 0, f"{cmd.where}: command failed: {cmd.text}\n--- stderr ---\n{proc.stderr[-3000:]}"
        if kind == "genomamba":
            assert_quiet(proc.stdout + proc.stderr, cmd.text)
        ran += 1
    assert ran >= 15
    assert_quiet(runner.server_output(), "importing genomamba's command-line apps")
    assert_outputs_ignored(sandbox, before)
