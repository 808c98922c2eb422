"""One command for a GPU machine: GPU tests, scan and model benchmarks, long-window training, one JSON.

Uses the torch and triton already installed (nothing is downloaded or pip-installed):
``make gpu-check`` lays the package out under build/gpu-src with symlinks (genomamba/, kernels/
as genomamba/kernels, configs/ as genomamba/configs) and runs this script from there with
PYTHONPATH=. (subprocesses inherit the working directory, so ``python -m pytest`` finds that
layout before the repository's own genomamba/, which lacks the kernels). Both Triton scan
implementations run in the same call ("v1", the default, as the baseline, and "chunked"), so one
run gives the before / after table. Steps, in order of importance, each inside a share of the
time budget (``--budget-s``, default 450 s) and cut short, not lost, when its share runs out:

1. ``pytest -m gpu`` on tests/kernels and tests/models (both implementations; the chunked kernels
   become the default only once their GPU tests pass, ``chunked_gpu_tests_pass`` below);
2. ``bench_scan.py --device cuda``: forward and backward apart, each against its HBM,
   instruction-issue and special-function floors, fp32 / bf16, L 1k-1M, batch 2 x d 256 and
   batch 1 x d 2,048, v1 and chunked;
3. ``bench_model_gpu.py``: time per token of training and inference, Mamba / hybrid / full
   attention (SDPA), L 1k-64k, eager and as a CUDA graph (the launch overhead);
4. training through the CLI (``genomamba train``, chunked scan) on 64k, 256k and 1 Mb windows: tokens
   per second and peak memory, memory per base;
5. ``bench_scan.py --sweep``: chunked tile alternatives, if time is left.

The CLI needs Hydra, OmegaConf and pyfaidx, which a GPU image may lack: ``make gpu-wheels`` (on any
machine with pip) puts their wheels in .whl/; when they are not importable here, step 4 unpacks
those wheels into a temporary folder on PYTHONPATH (no pip, no network). Without them step 4 is
reported as skipped, with the reason. It trains on the bundled E. coli genome decompressed to a
plain FASTA (pyfaidx reads bgzip only through Biopython).

    python benchmarks/gpu_check.py --out gpu_check.json
    python benchmarks/gpu_check.py --stub-cuda --out /tmp/x.json   # CPU: JSON assembly only, canned
                                                                   # CUDA results, labelled "stub"

Exit status 0 only when the GPU tests pass and the scan and model benchmarks produced results.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_LENGTHS = [1024, 4096, 16384, 65536]
SCAN_LENGTHS = [1024, 4096, 16384, 65536, 262144, 1048576]
TRAIN_LENGTHS = [65536, 262144, 1048576]
GENOME = ROOT / "data" / "genomes" / "escherichia_coli_536.fa.gz"
CLI_MODULES = ("hydra", "omegaconf", "pyfaidx")
# Shares of the budget (fractions of what is left when the step starts) and floors in seconds.
STEP_SHARES = {"gpu_tests": (0.35, 60), "scan": (0.35, 40), "model": (0.45, 40), "train": (0.8, 40), "sweep": (1.0, 0)}
# HBM bandwidth in bytes/s by device-name fragment (vendor data sheets); first match wins.
PEAK_HBM_BYTES_PER_S = [
    ("H200", 4.8e12),
    ("H100 SXM", 3.35e12),
    ("H100 80GB HBM3", 3.35e12),  # the SXM5 part reports this name
    ("H100 NVL", 3.9e12),
    ("H100 PCIe", 2.0e12),
    ("H100", 3.35e12),
    ("A100-SXM4-80GB", 2.039e12),
    ("A100 80GB PCIe", 1.935e12),
    ("A100-PCIE-40GB", 1.555e12),
    ("A100-SXM4-40GB", 1.555e12),
    ("A100", 2.0e12),
    ("L40S", 0.864e12),
    ("L4", 0.3e12),
    ("A10", 0.6e12),
]
# Targets of issue 34 (H100): fwd+bwd within these multiples of the HBM floor at L >= 4k (batch 2 x
# d 256); Mamba no slower per training token than attention at 1k and >= 20x faster at 64k; memory
# per base within 20% from 64k to 1 Mb.
TARGETS = {"fp32_x_hbm": 1.5, "bf16_x_hbm": 2.5, "mamba_vs_attention_64k": 20.0, "mem_per_base_flatness": 1.2}


def peak_bandwidth(device_name: str) -> float | None:
    for frag, bw in PEAK_HBM_BYTES_PER_S:
        if frag.lower() in device_name.lower():
            return bw
    return None


def device_info() -> dict:
    import torch
    import triton

    props = torch.cuda.get_device_properties(0)
    return {
        "name": props.name, "capability": f"sm_{props.major}{props.minor}", "sms": props.multi_processor_count,
        "memory_gb": round(props.total_memory / 1e9, 1), "torch": torch.__version__, "cuda": torch.version.cuda,
        "triton": triton.__version__, "python": platform.python_version(),
    }


class Budget:
    """Seconds left of the run, and each step's share of them."""

    def __init__(self, total_s: float, clock=time.monotonic) -> None:
        self.clock = clock
        self.end = clock() + total_s

    def left(self) -> float:
        return max(0.0, self.end - self.clock())

    def share(self, step: str) -> float:
        frac, floor = STEP_SHARES[step]
        return max(floor, frac * self.left()) if self.left() > 0 else 0.0


# --------------------------------------------------------------------------------------------
# 1. GPU tests


def run_gpu_tests(junit: Path, timeout: float, log: Path | None = None, workers: int = 6) -> dict:
    # tests/kernels and tests/models hold the CUDA tests and need only torch, triton and numba
    # (the rest of the suite imports Lightning, Hydra, pysam, ... which a GPU image may lack).
    # Several workers: most of the time is Triton compiling the kernels' variants, one CPU core each.
    parallel = ["-n", str(workers)] if workers > 1 and importlib.util.find_spec("xdist") else []
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
           *parallel, str(ROOT / "tests" / "kernels"), str(ROOT / "tests" / "models")]
    env = {k: v for k, v in os.environ.items() if k != "GENOMAMBA_TRITON_SCAN"}  # the tests pick it per case
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        rc, stdout, stderr = res.returncode, res.stdout, res.stderr
    except subprocess.TimeoutExpired as e:
        rc, stdout, stderr = "timeout", _text(e.stdout), _text(e.stderr)
    if log is not None:  # the whole pytest output, so one GPU call is enough to diagnose a failure
        log.write_text(stdout + stderr)
    out = {"returncode": rc, "wall_s": round(time.perf_counter() - t0, 1), "tail": stdout.strip().splitlines()[-5:]}
    out.update(junit_counts(junit))
    out["by_implementation"] = junit_by_implementation(junit)
    return out


def _text(b: bytes | str | None) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def junit_counts(path: Path) -> dict:
    """passed / failed / errors / skipped from a pytest junit XML file (zeros when missing)."""
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if path.exists():
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for s in suites:
            for k in counts:
                counts[k] += int(s.get(k, 0))
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def junit_by_implementation(path: Path) -> dict[str, dict[str, int]]:
    """Test cases per Triton implementation: a case whose id names "chunked" (a parameter, or a test
    of the chunked kernels) counts for chunked, one naming "v1" for v1, any other for both."""
    out = {impl: {"tests": 0, "failed": 0, "skipped": 0} for impl in ("v1", "chunked")}
    if not path.exists():
        return out
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        impls = [i for i in ("chunked", "v1") if i in name] or ["v1", "chunked"]
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        for impl in impls:
            out[impl]["tests"] += 1
            out[impl]["failed"] += failed
            out[impl]["skipped"] += skipped
    return out


# --------------------------------------------------------------------------------------------
# 2, 3, 5. Benchmarks (their own scripts, JSON out)


def _run_json(cmd: list[str], out: Path, timeout: float) -> dict | None:
    """Run a benchmark that writes --out; its JSON, the partial one it left if it was stopped, or None."""
    try:
        res = subprocess.run(cmd + ["--out", str(out)], capture_output=True, text=True, timeout=timeout)
        failed = res.returncode != 0
        stderr = res.stderr
    except subprocess.TimeoutExpired as e:
        failed, stderr = True, _text(e.stderr)
    if failed:
        sys.stderr.write(stderr[-3000:])
    if not out.exists():
        return None
    doc = json.loads(out.read_text())
    if failed:
        doc["stopped"] = "timeout or error; partial results"
    return doc


# --------------------------------------------------------------------------------------------
# 4. Training through the CLI on long windows

# Runs `genomamba train` in this process (so torch's peak-memory counter covers it) and times the
# optimiser steps with a callback added to every Trainer; prints one JSON line.
TRAIN_WRAPPER = r"""
import functools, json, sys, time
import lightning.pytorch as pl
import torch

steps = []

class StepTimer(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        steps.append(time.perf_counter())

_init = pl.Trainer.__init__

@functools.wraps(_init)  # genomamba's config schema reads the Trainer's signature
def _init_with_timer(self, *args, callbacks=None, **kwargs):
    _init(self, *args, callbacks=[*(callbacks or []), StepTimer()], **kwargs)

pl.Trainer.__init__ = _init_with_timer
from genomamba.apps.cli import main

t0 = time.perf_counter()
rc = main(["train", *sys.argv[1:]])
peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
print("GPU_CHECK_TRAIN " + json.dumps({"returncode": rc, "wall_s": time.perf_counter() - t0,
                                       "step_times": steps, "peak_bytes": peak}))
"""


def plain_genome(work: Path) -> Path:
    """The bundled genome decompressed into ``work``: pyfaidx reads BGZF only through Biopython,
    which a GPU image may lack; a plain FASTA it indexes itself."""
    import gzip

    out = work / "genome.fa"
    if not out.exists():
        work.mkdir(parents=True, exist_ok=True)
        with gzip.open(GENOME, "rb") as src, open(out.with_suffix(".tmp"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(out.with_suffix(".tmp"), out)
    return out


def train_overrides(L: int, run_dir: Path, fasta: Path, trainer: str = "gpu", model: str = "small",
                    steps: int = 6) -> list[str]:
    """``genomamba train`` overrides for a short run on one window of length L of ``fasta``."""
    return [
        f"trainer={trainer}", f"model={model}", "data=fasta", f"data.fasta={fasta}",
        f"data.window_length={L}", "data.batch_size=1",
        # A quarter of the 4.9 Mb genome is held out: enough for one 1 Mb evaluation window.
        "data.val_fraction=0.25", f"data.train_samples_per_epoch={max(steps, 2)}",
        f"trainer.max_steps={steps}", "trainer.limit_val_batches=0", "callbacks.best_checkpoint=null",
        "eval.max_windows=1", "eval.orders=[2]", f"run_dir={run_dir}", f"name=gpu_check_{L}",
    ]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def cli_pythonpath(wheels: Path | None, unpack_to: Path) -> tuple[str | None, str | None]:
    """(extra PYTHONPATH entry, None) when the CLI's packages import here or from the unpacked
    wheels; (None, reason) when they are missing and no wheel provides them."""
    missing = [m for m in CLI_MODULES if not _importable(m)]
    if not missing:
        return "", None
    found = sorted(wheels.glob("*.whl")) if wheels and wheels.is_dir() else []
    if not found:
        return None, (f"{', '.join(missing)} not importable and no wheels in {wheels}: run `make gpu-wheels` "
                      "where pip works and carry .whl/")
    for whl in found:  # pure-Python wheels: unpacking is all an import needs
        with zipfile.ZipFile(whl) as z:
            z.extractall(unpack_to)
    sys.path.insert(0, str(unpack_to))
    importlib.invalidate_caches()
    still = [m for m in missing if not _importable(m)]
    sys.path.remove(str(unpack_to))
    if still:
        return None, f"{', '.join(still)} not in the wheels of {wheels}"
    return str(unpack_to), None


def run_long_windows(lengths: list[int], budget_s: float, work: Path, wheels: Path | None, trainer: str = "gpu",
                     model: str = "small", steps: int = 6, impl: str = "chunked") -> dict:
    """Train through the CLI at each L: tokens/s over the steps after the first, peak memory."""
    extra, reason = cli_pythonpath(wheels, work / "site")
    if extra is None:
        return {"status": "skipped", "reason": reason}
    env = dict(os.environ, GENOMAMBA_TRITON_SCAN=impl)
    if extra:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, env.get("PYTHONPATH", "")) if p)
    end = time.monotonic() + budget_s
    fasta = plain_genome(work)
    rows = []
    for L in lengths:
        left = end - time.monotonic()
        if left < 5:
            rows.append({"L": L, "status": "skipped", "reason": "time budget spent"})
            continue
        run_dir = work / f"run_{L}"
        shutil.rmtree(run_dir, ignore_errors=True)
        cmd = [sys.executable, "-c", TRAIN_WRAPPER, *train_overrides(L, run_dir, fasta, trainer, model, steps)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=left)
        except subprocess.TimeoutExpired:
            rows.append({"L": L, "status": "timeout", "timeout_s": round(left)})
            continue
        rows.append(parse_train_run(L, res.returncode, res.stdout, res.stderr))
    return {"status": "ok", "implementation": impl, "trainer": trainer, "model": model, "steps": steps,
            "batch_size": 1, "rows": rows, "memory_per_base_flatness": flatness(rows)}


def parse_train_run(L: int, returncode: int, stdout: str, stderr: str) -> dict:
    line = next((x for x in stdout.splitlines() if x.startswith("GPU_CHECK_TRAIN ")), None)
    if returncode != 0 or line is None:
        return {"L": L, "status": "failed", "returncode": returncode,
                "tail": (stderr or stdout).strip().splitlines()[-5:]}
    rec = json.loads(line.removeprefix("GPU_CHECK_TRAIN "))
    if rec["returncode"] != 0:
        return {"L": L, "status": "failed", "returncode": rec["returncode"], "tail": stderr.strip().splitlines()[-5:]}
    t = rec["step_times"]
    row = {"L": L, "status": "ok", "steps_timed": max(0, len(t) - 1), "wall_s": round(rec["wall_s"], 1)}
    if len(t) >= 2:  # the first step compiles the kernels: timed from its end
        row["tokens_per_s"] = round(L * (len(t) - 1) / (t[-1] - t[0]), 1)
        row["s_per_step"] = round((t[-1] - t[0]) / (len(t) - 1), 4)
    if rec["peak_bytes"] is not None:
        row["peak_mem_gib"] = round(rec["peak_bytes"] / 2**30, 3)
        row["peak_mem_bytes_per_base"] = round(rec["peak_bytes"] / L, 1)
    return row


def flatness(rows: list[dict]) -> float | None:
    """Peak memory per base at the longest over the shortest finished window (1.0 = linear in L)."""
    per_base = [(r["L"], r["peak_mem_bytes_per_base"]) for r in rows if r.get("status") == "ok"
                and r.get("peak_mem_bytes_per_base")]
    if len(per_base) < 2:
        return None
    per_base.sort()
    return round(per_base[-1][1] / per_base[0][1], 3)


# --------------------------------------------------------------------------------------------
# The document


def _before_after(scan_rows: list[dict]) -> list[dict]:
    """The issue's table: fwd+bwd ms and multiple of the HBM floor, v1 and chunked, batch 2 x d 256."""
    by = {}
    for r in scan_rows:
        if (r.get("batch"), r.get("d")) == (2, 256):
            by.setdefault((r["dtype"], r["L"]), {})[r["impl"]] = r
    table = []
    for (dtype, L), pair in sorted(by.items()):
        entry: dict = {"dtype": dtype, "L": L}
        for impl, r in pair.items():
            entry[f"{impl}_fwd_bwd_ms"] = round(r["fwd_bwd_ms"], 4)
            entry[f"{impl}_fwd_bwd_x_hbm"] = round(r["fwd_bwd_x_hbm"], 2)
            entry[f"{impl}_fwd_bwd_x_floor"] = round(r["fwd_bwd_x_floor"], 2)
        if "v1" in pair and "chunked" in pair:
            entry["speedup"] = round(pair["v1"]["fwd_bwd_ms"] / pair["chunked"]["fwd_bwd_ms"], 2)
        table.append(entry)
    return table


def _model_table(model: dict | None) -> list[dict]:
    rows = []
    for key, per_L in ((model or {}).get("results") or {}).items():
        for L, r in per_L.items():
            if not L.isdigit():
                continue
            entry = {"model": key, "L": int(L), "status": r.get("status")}
            for f in ("train_us_per_token", "train_graph_us_per_token", "infer_us_per_token", "infer_graph_us_per_token",
                      "train_launch_overhead_frac", "infer_launch_overhead_frac", "peak_mem_train_mb",
                      "train_graph_error"):
                if f in r:
                    entry[f] = r[f]
            rows.append(entry)
    return sorted(rows, key=lambda e: (e["model"], e["L"]))


def goals(scan_rows: list[dict], model_rows: list[dict], train: dict | None, tests: dict) -> dict:
    """Each target of the issue: True / False where measured, None where not."""
    def within(dtype: str, limit: float) -> bool | None:
        rows = [r for r in scan_rows if r.get("impl") == "chunked" and (r.get("batch"), r.get("d")) == (2, 256)
                and r["dtype"] == dtype and r["L"] >= 4096]
        return all(r["fwd_bwd_x_hbm"] <= limit for r in rows) if rows else None

    def per_token(key: str, L: int, field: str) -> float | None:
        r = next((m for m in model_rows if m["model"] == key and m["L"] == L and m.get("status") == "ok"), None)
        return r.get(field) if r else None

    def ratio(L: int, field: str) -> float | None:
        m, t = per_token("mamba/chunked", L, field), per_token("transformer", L, field)
        return t / m if m and t else None

    r1k = {f: ratio(1024, f) for f in ("train_us_per_token", "train_graph_us_per_token")}
    r64k = ratio(65536, "train_us_per_token")
    chunked = (tests.get("by_implementation") or {}).get("chunked") or {}
    train_rows = (train or {}).get("rows") or []
    one_mb = next((r for r in train_rows if r["L"] == 1048576), None)
    flat = (train or {}).get("memory_per_base_flatness")
    return {
        "chunked_gpu_tests_pass": (chunked["failed"] == 0 and chunked["tests"] > chunked["skipped"]) if chunked.get("tests") else None,
        "scan_fp32_fwd_bwd_le_1.5x_hbm_at_L_ge_4k": within("float32", TARGETS["fp32_x_hbm"]),
        "scan_bf16_fwd_bwd_le_2.5x_hbm_at_L_ge_4k": within("bfloat16", TARGETS["bf16_x_hbm"]),
        "mamba_train_token_no_slower_than_attention_at_1k_eager": None if r1k["train_us_per_token"] is None else r1k["train_us_per_token"] >= 1.0,
        "mamba_train_token_no_slower_than_attention_at_1k_cuda_graph": None if r1k["train_graph_us_per_token"] is None else r1k["train_graph_us_per_token"] >= 1.0,
        "mamba_ge_20x_faster_than_attention_at_64k": None if r64k is None else r64k >= TARGETS["mamba_vs_attention_64k"],
        "trains_1mb_windows": None if one_mb is None else one_mb.get("status") == "ok",
        "memory_per_base_flat_64k_to_1mb": None if flat is None else flat <= TARGETS["mem_per_base_flatness"],
    }


def summarize(device: dict, tests: dict, scan: dict | None, model: dict | None, train: dict | None, stub: bool,
              steps: dict | None = None) -> dict:
    """The gpu-check document from the parts (pure; tested on CPU with canned parts)."""
    peak = peak_bandwidth(device["name"])
    cuda = (scan or {}).get("cuda") or {}
    scan_rows = cuda.get("rows") or []
    model_rows = _model_table(model)
    doc: dict = {
        "stub": stub,
        "note": ("STUB: CUDA parts replaced by canned inputs to test the JSON assembly on CPU; "
                 "no figure here was measured") if stub else "measured on this device",
        "device": device,
        "peak_hbm_bytes_per_s": peak,
        "peak_source": "data sheet by device name" if peak else "unknown device: fractions of peak omitted",
        "steps": steps or {},
        "gpu_tests": tests,
        "scan_before_after": _before_after(scan_rows),
        "scan": scan_rows,
        "scan_skipped": cuda.get("skipped") or [],
        "scan_sweep": cuda.get("sweep") or [],
        # Whether the cheaper plain reverse-scan combine is right on this GPU (then it may become the default).
        "plain_reverse_check": (scan or {}).get("plain_reverse_check"),
        "model_time_per_token": model_rows,
        "model_summary": (model or {}).get("summary") or {},
        "long_windows": train or {"status": "not run"},
    }
    doc["goals"] = goals(scan_rows, model_rows, train, tests)
    doc["ok"] = None if stub else (
        tests.get("returncode") == 0 and tests.get("failures", 1) == 0 and tests.get("errors", 1) == 0
        and bool(scan_rows) and bool(model_rows))
    return doc


def _stub_parts() -> tuple[dict, dict, dict, dict, dict]:
    """Canned inputs in the shapes bench_scan / bench_model_gpu / pytest / training produce (no figure is real)."""
    device = {"name": "STUB (no GPU)", "capability": None, "sms": None, "torch": None, "cuda": None,
              "triton": None, "python": platform.python_version()}
    tests = {"returncode": 0, "tests": 0, "failures": 0, "errors": 0, "skipped": 0, "passed": 0, "wall_s": 0,
             "by_implementation": {"v1": {"tests": 0, "failed": 0, "skipped": 0},
                                   "chunked": {"tests": 0, "failed": 0, "skipped": 0}}}
    row = {"batch": 2, "d": 256, "n": 16, "dtype": "float32", "L": 4096, "fwd_ms": 1.0, "fwd_train_ms": 1.0,
           "bwd_ms": 1.0, "fwd_bwd_ms": 2.0, "fwd_bwd_x_hbm": 10.0, "fwd_bwd_x_floor": 5.0}
    scan = {"cuda": {"rows": [dict(row, impl="v1"), dict(row, impl="chunked")], "skipped": [], "sweep": []}}
    model = {"results": {"mamba/chunked": {"1024": {"status": "ok", "train_us_per_token": 1.0}},
                         "transformer": {"1024": {"status": "timeout"}}}, "summary": {}}
    train = {"status": "skipped", "reason": "stub"}
    return device, tests, scan, model, train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_check.json")
    p.add_argument("--budget-s", type=float, default=450.0, help="wall-clock budget of the whole check")
    p.add_argument("--scan-lengths", type=int, nargs="+", default=SCAN_LENGTHS)
    p.add_argument("--model-lengths", type=int, nargs="+", default=MODEL_LENGTHS)
    p.add_argument("--train-lengths", type=int, nargs="+", default=TRAIN_LENGTHS)
    p.add_argument("--wheels", type=Path, default=ROOT / ".whl",
                   help="pure-Python wheels of the CLI's packages (make gpu-wheels), used if they do not import")
    p.add_argument("--stub-cuda", action="store_true",
                   help="no GPU: assemble the JSON from canned parts (labelled stub) to test this script")
    p.add_argument("--skip-tests", action="store_true", help="benchmarks only")
    args = p.parse_args(argv)

    if args.stub_cuda:
        doc = summarize(*_stub_parts(), stub=True)
    else:
        import torch

        if not torch.cuda.is_available():
            print("gpu-check: no CUDA device visible to torch; run it on a GPU machine "
                  "(or --stub-cuda to test the script).", file=sys.stderr)
            return 2
        budget = Budget(args.budget_s)
        device = device_info()
        out = Path(args.out)
        steps: dict = {}

        def step(name: str) -> float:
            share = budget.share(name)
            steps[name] = {"budget_s": round(share, 1), "started_at_s": round(args.budget_s - budget.left(), 1)}
            return share

        with tempfile.TemporaryDirectory() as tmp:
            tmpd = Path(tmp)
            share = step("gpu_tests")
            tests = ({"skipped_by_flag": True, "returncode": 0, "failures": 0, "errors": 0}
                     if args.skip_tests else run_gpu_tests(tmpd / "junit.xml", share, out.with_name("gpu_tests.log")))
            # the parts are kept beside --out, so a run cut short still leaves what it measured
            share = step("scan")
            scan_cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_scan.py"), "--device", "cuda", "--skip-cpu",
                        "--check-plain-reverse", "--cuda-lengths", *map(str, args.scan_lengths),
                        "--time-budget-s", str(max(5, share - 30))]
            scan = _run_json(scan_cmd, out.with_suffix(".scan.json"), timeout=share + 60)
            share = step("model")
            model = _run_json(
                [sys.executable, str(ROOT / "benchmarks" / "bench_model_gpu.py"), "--lengths",
                 *map(str, args.model_lengths), "--time-budget-s", str(max(10, share - 25)),
                 "--point-timeout", str(max(30, share / 2))],
                out.with_suffix(".model.json"), timeout=share + 30,
            )
            share = step("train")
            train = run_long_windows(args.train_lengths, share, tmpd / "train", args.wheels)
            share = step("sweep")
            if share > 30:
                sweep = _run_json(
                    [sys.executable, str(ROOT / "benchmarks" / "bench_scan.py"), "--device", "cuda", "--skip-cpu",
                     "--cuda-lengths", "16384", "--shapes", "2x256", "--impls", "chunked", "--sweep",
                     "--time-budget-s", str(share - 20)],
                    out.with_suffix(".sweep.json"), timeout=share,
                )
                if scan is not None and sweep is not None:
                    scan.setdefault("cuda", {})["sweep"] = (sweep.get("cuda") or {}).get("sweep", [])
        steps["total_s"] = round(args.budget_s - budget.left(), 1)
        doc = summarize(device, tests, scan, model, train, stub=False, steps=steps)
        doc["raw"] = {"bench_scan": scan, "bench_model_gpu": model}
    tmp_out = Path(args.out).with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp_out, args.out)  # atomic: no half-written report
    print(json.dumps({k: doc[k] for k in ("stub", "device", "gpu_tests", "scan_before_after", "goals", "ok")}, indent=2))
    return 0 if doc["ok"] or doc["stub"] else 1


if __name__ == "__main__":
    sys.exit(main())
