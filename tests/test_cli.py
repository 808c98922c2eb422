"""The ``genomamba`` console script: version, help, config errors and user errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import genomamba
from genomamba.apps.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "genomamba"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "genomamba.apps.cli"]
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_version_and_usage(capsys) -> None:
    assert main(["--version"]) == 0
    assert genomamba.__version__ in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


# Modules that take seconds to import: none may load before a command answers --help or a wrong path.
_HEAVY = ("torch", "lightning", "scipy", "sklearn", "pyrodigal", "numba", "matplotlib", "transformers")


def _missing_file_case(command: str, tmp: Path) -> tuple[list[str], str]:
    """Arguments of ``command`` naming a file that is not there, and what the error must say."""
    fasta, missing = str(REPO_ROOT / "data" / "genomes" / "escherichia_coli_536.fa.gz"), str(tmp / "missing")
    (tmp / "a_file").write_text("")
    return {
        "train": (["data=fasta", f"data.fasta={missing}.fa", f"run_dir={tmp / 'run'}"], f"FASTA file not found: {missing}.fa"),
        "finetune": ([f"model.path={missing}", f"run_dir={tmp / 'run'}"], f"model not found: {missing}"),
        "evaluate": ([missing, "--fasta", fasta], f"model not found: {missing}"),
        "score-variants": (["--model", "ecoli536-hybrid-small", "--fasta", fasta, "--vcf", f"{missing}.vcf", "--out",
                            str(tmp / "s.tsv")], f"{missing}.vcf: VCF not found"),
        "mutagenesis": (["--model", "ecoli536-hybrid-small", "--fasta", f"{missing}.fa", "--region", "c:1-10", "--out-dir",
                         str(tmp / "m")], f"FASTA file not found: {missing}.fa"),
        "make-variant-benchmark": (["--fasta", f"{missing}.fa", "--out-prefix", str(tmp / "b")],
                                   f"FASTA file not found: {missing}.fa"),
        "variant-benchmark": (["--fasta", fasta, "--benchmark", missing, "--out-dir", str(tmp / "out")],
                              f"{missing}.vcf not found"),
        "make-relative-track": (["--fasta", fasta, "--relative", f"{missing}.fa", "--out", str(tmp / "t.fa")],
                                f"--relative: FASTA file not found: {missing}.fa"),
        "demo": (["--run-dir", str(tmp / "a_file" / "run")], str(tmp / "a_file")),
    }[command]


@pytest.mark.parametrize("command", ["train", "finetune", "evaluate", "score-variants", "mutagenesis", "make-variant-benchmark",
                                     "variant-benchmark", "make-relative-track", "demo"])
def test_help_and_a_missing_file_answer_before_torch_is_imported(command: str, tmp_path: Path) -> None:
    """``--help`` and a missing input answer without importing torch, Lightning or the other
    libraries that take seconds to load (``genomamba train --help`` took 10 s when it did), checked
    in a fresh interpreter. Times are in benchmarks/bench_cli.py, not asserted here (no timed
    assertions in CI)."""
    args, message = _missing_file_case(command, tmp_path)
    code = (
        "import contextlib, io, sys\n"
        "from genomamba.apps.cli import main\n"
        "def heavy():\n"
        f"    return sorted({{m.split('.')[0] for m in sys.modules}} & set({_HEAVY!r}))\n"
        "out, err = io.StringIO(), io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        rc = main([{command!r}, '--help'])\n"
        "    except SystemExit as e:\n"
        "        rc = e.code\n"
        "assert rc in (0, None), rc\n"
        f"assert 'genomamba {command}' in out.getvalue(), out.getvalue()[-500:]\n"
        "print('help', heavy())\n"
        "with contextlib.redirect_stderr(err):\n"
        f"    rc = main([{command!r}, *{args!r}])\n"
        "assert rc == 2, (rc, err.getvalue())\n"
        f"assert {message!r} in err.getvalue() and len(err.getvalue().strip().splitlines()) == 1, err.getvalue()\n"
        "print('error', heavy())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[:2] == ["help []", "error []"], proc.stdout


# In-process (Hydra exits via SystemExit): spawning a fresh interpreter per case is slow.
def test_train_help_lists_config_groups(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    groups_section = out.split("== Config groups (group=option) ==")[1].split("==")[0]
    listed = {
        line.split(":")[0]: {o.strip() for o in line.split(":")[1].split(",")}
        for line in groups_section.strip().splitlines()
    }
    # Every option file of the user-facing groups is listed (the help text is static YAML)...
    configs = REPO_ROOT / "configs"
    internal_options = {"trainer": {"default"}}  # the base the other trainers extend
    assert set(listed) == {"model", "data", "trainer", "experiment", "logger"}
    for group, options in listed.items():
        on_disk = {p.stem for p in (configs / group).glob("*.yaml")} - internal_options.get(group, set())
        assert options == on_disk, group
    # ... and the internal groups are not.
    for hidden in ("schema/", "paths:", "callbacks:", "task:"):
        assert hidden not in groups_section


def test_unknown_config_key_is_a_clear_hydra_error(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "model.d_modle=64"]) == 2  # checked before Hydra creates the run directory
    err = capsys.readouterr().err
    assert err.startswith("genomamba: error:") and len(err.strip().splitlines()) == 1
    assert "Could not override 'model.d_modle'" in err and "Key 'd_modle' not in" in err
    assert not (tmp_path / "runs").exists()


def test_missing_fasta_is_a_one_line_fasta_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.fa"
    r = _cli(["train", f"data.fasta={missing}", f"run_dir={tmp_path / 'run'}"], tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"FASTA file not found: {missing}" in r.stderr


def test_evaluate_missing_model_exits_2(tmp_path: Path, capsys) -> None:
    fasta = REPO_ROOT / "data" / "genomes" / "escherichia_coli_536.fa.gz"
    assert main(["evaluate", str(tmp_path / "no_model"), "--fasta", str(fasta)]) == 2
    assert "model not found" in capsys.readouterr().err


def test_score_variants_subcommand_reports_missing_model(tmp_path: Path, capsys) -> None:
    fasta = REPO_ROOT / "data" / "genomes" / "escherichia_coli_536.fa.gz"
    args = ["score-variants", "--model", str(tmp_path / "m"), "--fasta", str(fasta),
            "--vcf", str(tmp_path / "missing.vcf"), "--out", str(tmp_path / "s.tsv")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "model not found" in err and str(tmp_path / "m") in err and "Traceback" not in err
    assert not (tmp_path / "s.tsv").exists()


def test_finetune_subcommand_rejects_unknown_key(tmp_path: Path, capsys) -> None:
    assert main(["finetune", f"model.path={tmp_path}", "finetune.not_a_key=1", f"run_dir={tmp_path / 'run'}"]) == 2
    assert "not_a_key" in capsys.readouterr().err


def _reexec_calls(monkeypatch, cmd: str, env: dict[str, str]) -> list[tuple]:
    import genomamba.apps.cli as cli

    calls: list[tuple] = []
    monkeypatch.setattr(cli.os, "execve", lambda *a: calls.append(a))
    monkeypatch.setattr(cli.sys, "platform", "linux")
    monkeypatch.setattr(cli.sys, "argv", [str(Path(cli.__file__)), cmd, "x=1"])
    for key in ("GLIBC_TUNABLES", "GENOMAMBA_MALLOC_HUGEPAGES"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cli._maybe_reexec_with_hugepages(cmd)
    return calls


def test_heavy_commands_reexec_once_with_the_hugepage_malloc_tunable(monkeypatch) -> None:
    (call,) = _reexec_calls(monkeypatch, "train", {})
    exe, argv, env = call
    assert exe == sys.executable and argv[2:] == ["train", "x=1"]
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    # Already set (this is the re-exec'd process, or the user's own tunables), opted out, or a light command.
    assert _reexec_calls(monkeypatch, "train", {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}) == []
    assert _reexec_calls(monkeypatch, "train", {"GENOMAMBA_MALLOC_HUGEPAGES": "0"}) == []
    assert _reexec_calls(monkeypatch, "--version", {}) == []


@pytest.mark.slow
def test_demo_output_is_quiet_and_ends_with_a_summary(tmp_path: Path) -> None:
    """`genomamba demo` (shrunk by overrides) prints its report without dependency noise."""
    from test_readme import assert_quiet

    run_dir = tmp_path / "runs" / "demo"
    # An earlier demo's directory (its config names the demo, and it holds a checkpoint, which
    # `train` alone would refuse): the demo replaces it.
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"old")
    (run_dir / "config.yaml").write_text("name: demo\n")
    shrink = [
        "model.d_model=32", "trainer.max_steps=3", "trainer.val_check_interval=3", "trainer.limit_val_batches=1",
        "eval.max_windows=4", "eval.orders=[1,2]",
    ]
    env = {**os.environ, "GENOMAMBA_DATA_DIR": str(REPO_ROOT / "data"), "GENOMAMBA_MALLOC_HUGEPAGES": "0"}
    script = Path(sys.executable).parent / "genomamba"
    proc = subprocess.run(
        [str(script), "demo", "--run-dir", str(run_dir), *shrink], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_quiet(proc.stdout + proc.stderr, "genomamba demo")
    # No Lightning banners; the last step line is printed after the final validation, so it shows that figure.
    for banner in ("GPU available", "TPU available", "`Trainer.fit` stopped"):
        assert banner not in proc.stdout + proc.stderr, banner
    (last_step,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("step 3/3")]
    assert "val/bpb" in last_step, last_step
    assert "held-out bits per base (4 windows of 256 bp" in proc.stdout
    assert "species classification" in proc.stdout and "4-mer baseline" in proc.stdout
    assert "removing the previous demo run" in proc.stdout and (run_dir / "checkpoints" / "last.ckpt").read_bytes() != b"old"
