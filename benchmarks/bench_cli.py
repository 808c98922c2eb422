"""How fast each ``genomamba`` command answers ``--help`` and a missing input file, in a fresh
interpreter each time (the first thing a user sees), as JSON.

    python benchmarks/bench_cli.py [--repeat 3] [--baseline-src DIR]

``--baseline-src``: a source tree of another version (a ``git archive`` of main, say), laid out
as installed (``genomamba/`` with ``kernels/`` and ``configs/`` inside) and put first on
PYTHONPATH; each case then runs baseline and current in turn (A, B, A, B ...) so both see the
same load, and the JSON gives the median of the per-pair ratios. ``import torch`` is timed the
same way, as the yardstick: a command that answers in a fraction of it has not imported torch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FASTA = str(REPO / "data" / "genomes" / "escherichia_coli_536.fa.gz")


def cases(tmp: Path) -> dict[str, list[str]]:
    missing = str(tmp / "missing")
    return {
        "--help": ["--help"],
        "train --help": ["train", "--help"],
        "train (missing FASTA)": ["train", "data=fasta", f"data.fasta={missing}.fa", f"run_dir={tmp / 'run'}"],
        "finetune --help": ["finetune", "--help"],
        "finetune (missing model)": ["finetune", f"model.path={missing}", f"run_dir={tmp / 'run'}"],
        "evaluate --help": ["evaluate", "--help"],
        "evaluate (missing model)": ["evaluate", missing, "--fasta", FASTA],
        "score-variants --help": ["score-variants", "--help"],
        "score-variants (missing VCF)": ["score-variants", "--model", "ecoli536-hybrid-small", "--fasta", FASTA, "--vcf",
                                         f"{missing}.vcf", "--out", str(tmp / "s.tsv")],
        "make-variant-benchmark --help": ["make-variant-benchmark", "--help"],
        "make-variant-benchmark (missing FASTA)": ["make-variant-benchmark", "--fasta", f"{missing}.fa", "--out-prefix",
                                                   str(tmp / "b")],
        "variant-benchmark --help": ["variant-benchmark", "--help"],
        "variant-benchmark (missing benchmark)": ["variant-benchmark", "--fasta", FASTA, "--benchmark", missing,
                                                  "--out-dir", str(tmp / "out")],
        "make-relative-track --help": ["make-relative-track", "--help"],
        "make-relative-track (missing FASTA)": ["make-relative-track", "--fasta", FASTA, "--relative", f"{missing}.fa",
                                                "--out", str(tmp / "t.fa")],
        "demo --help": ["demo", "--help"],
    }


def layout(src: Path, dest: Path) -> Path:
    """``dest/genomamba`` as installed: the package with kernels/ and configs/ inside (symlinks)."""
    pkg = dest / "genomamba"
    pkg.mkdir(parents=True)
    for entry in (src / "genomamba").iterdir():
        (pkg / entry.name).symlink_to(entry)
    (pkg / "kernels").symlink_to(src / "kernels")
    (pkg / "configs").symlink_to(src / "configs")
    return dest


def timed(argv: list[str], cwd: Path, pythonpath: Path | None) -> tuple[float, int]:
    env = dict(os.environ, GENOMAMBA_MALLOC_HUGEPAGES="0")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, timeout=900)
    return time.perf_counter() - t0, proc.returncode


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--baseline-src", type=Path, default=None, help="source tree of the version to compare with")
    p.add_argument("--only", nargs="*", default=None, help="case names to run (default: all)")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_cli."))
    try:
        base = layout(a.baseline_src.resolve(), tmp / "baseline") if a.baseline_src else None
        todo = {"import torch": ["-c", "import torch"]}
        todo.update({name: ["-m", "genomamba.apps.cli", *argv] for name, argv in cases(tmp).items()})
        if a.only:
            todo = {k: v for k, v in todo.items() if k in a.only or k == "import torch"}
        out: dict[str, dict] = {}
        for name, argv in todo.items():
            cur, old, codes = [], [], set()
            for _ in range(a.repeat):
                if base is not None and name != "import torch":
                    old.append(timed(argv, tmp, base)[0])
                seconds, code = timed(argv, tmp, None)
                cur.append(seconds)
                codes.add(code)
            row = {"seconds": round(statistics.median(cur), 3), "exit_codes": sorted(codes)}
            if old:
                row["baseline_seconds"] = round(statistics.median(old), 3)
                row["ratio_to_baseline"] = round(statistics.median(c / o for c, o in zip(cur, old, strict=True)), 3)
            out[name] = row
            print(name, row, file=sys.stderr, flush=True)
        torch_s = out["import torch"]["seconds"]
        for row in out.values():
            row["fraction_of_import_torch"] = round(row["seconds"] / torch_s, 3)
        print(json.dumps({"repeat": a.repeat, "python": sys.version.split()[0], "cases": out}, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
