"""One command for a GPU machine: GPU tests, scan and model benchmarks on CUDA, one JSON.

Uses the torch and triton already installed (nothing is downloaded): ``make gpu-check`` lays the
package out under build/gpu-src with symlinks (genomamba/, kernels/ as genomamba/kernels,
configs/ as genomamba/configs) and runs this script from there with PYTHONPATH=. (subprocesses
inherit the working directory, so ``python -m pytest`` finds that layout before the repository's
own genomamba/, which lacks the kernels). Steps:

1. ``pytest -m gpu`` (the CUDA tests: Triton scan vs reference incl. fp16/bf16, model on CUDA);
2. ``benchmarks/bench_scan.py --device cuda --skip-cpu``: Triton fwd and fwd+bwd times, achieved
   HBM bandwidth as a fraction of this device's peak and the time over the bandwidth floor;
3. ``benchmarks/bench_model.py --device cuda --models mamba transformer``: time per token of the
   Mamba LM vs the same-shape attention model, L 1k-64k.

    python benchmarks/gpu_check.py --out gpu_check.json
    python benchmarks/gpu_check.py --stub-cuda --out /tmp/x.json   # CPU: JSON assembly only, canned
                                                                   # CUDA results, labelled "stub"

Exit status 0 only when the GPU tests pass and both benchmarks produced results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LENGTHS = [1024, 4096, 16384, 65536]
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


def run_gpu_tests(junit: Path, log: Path | None = None) -> dict:
    # tests/kernels and tests/models hold the CUDA tests and need only torch, triton and numba
    # (the rest of the suite imports Lightning, Hydra, pysam, ... which a GPU image may lack).
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
           str(ROOT / "tests" / "kernels"), str(ROOT / "tests" / "models")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if log is not None:  # the whole pytest output, so one GPU call is enough to diagnose a failure
        log.write_text(res.stdout + res.stderr)
    out = {"returncode": res.returncode, "wall_s": round(time.perf_counter() - t0, 1),
           "tail": res.stdout.strip().splitlines()[-5:]}
    out.update(junit_counts(junit))
    return out


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


def _run_json(cmd: list[str], out: Path, timeout: float) -> dict | None:
    res = subprocess.run(cmd + ["--out", str(out)], capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0 or not out.exists():
        sys.stderr.write(res.stderr[-3000:])
        return None
    return json.loads(out.read_text())


def summarize(device: dict, tests: dict, scan: dict | None, model: dict | None, stub: bool) -> dict:
    """The gpu-check document from the parts (pure; tested on CPU with canned parts)."""
    peak = peak_bandwidth(device["name"])
    doc: dict = {
        "stub": stub,
        "note": ("STUB: CUDA parts replaced by canned inputs to test the JSON assembly on CPU; "
                 "no figure here was measured") if stub else "measured on this device",
        "device": device,
        "peak_hbm_bytes_per_s": peak,
        "peak_source": "data sheet by device name" if peak else "unknown device: fractions of peak omitted",
        "gpu_tests": tests,
        "scan": [],
        "model_time_per_token": [],
    }
    for row in (scan or {}).get("cuda", []):
        entry = {k: row[k] for k in ("dtype", "L", "fwd_ms", "fwd_bwd_ms", "fwd_GBps", "fwd_bwd_GBps")}
        if peak:
            entry["fwd_frac_of_peak"] = row["fwd_GBps"] * 1e9 / peak
            entry["fwd_bwd_frac_of_peak"] = row["fwd_bwd_GBps"] * 1e9 / peak
            entry["fwd_bwd_time_over_floor"] = peak / (row["fwd_bwd_GBps"] * 1e9)
        doc["scan"].append(entry)
    results = (model or {}).get("results", {})
    lengths = sorted({int(L) for rows in results.values() for L in rows})
    for L in lengths:
        entry: dict = {"L": L}
        for name in ("mamba", "transformer"):
            row = results.get(name, {}).get(str(L), {})
            ok = row.get("status") == "ok"
            entry[f"{name}_train_us_per_token"] = row.get("train_us_per_token") if ok else None
            entry[f"{name}_infer_us_per_token"] = row.get("infer_us_per_token") if ok else None
            if not ok:
                entry[f"{name}_status"] = row.get("status", "not run")
        m, t = entry["mamba_train_us_per_token"], entry["transformer_train_us_per_token"]
        entry["mamba_faster_train"] = (m < t) if m is not None and t is not None else None
        doc["model_time_per_token"].append(entry)
    at4k = [r for r in doc["scan"] if r["L"] >= 4096 and "fwd_bwd_time_over_floor" in r]
    doc["goals"] = {
        "scan_fwd_bwd_within_1.5x_floor_at_L_ge_4096": (
            all(r["fwd_bwd_time_over_floor"] <= 1.5 for r in at4k) if at4k else None),
        "mamba_faster_per_token_than_attention_from_4k": (
            all(e["mamba_faster_train"] for e in doc["model_time_per_token"] if e["L"] >= 4096)
            if any(e["mamba_faster_train"] is not None for e in doc["model_time_per_token"]) else None),
    }
    doc["ok"] = None if stub else (
        tests.get("returncode") == 0 and tests.get("failures", 1) == 0 and tests.get("errors", 1) == 0
        and bool(doc["scan"]) and bool(doc["model_time_per_token"]))
    return doc


def _stub_parts() -> tuple[dict, dict, dict, dict]:
    """Canned inputs in the shapes bench_scan / bench_model / pytest produce (no figure is real)."""
    device = {"name": "STUB (no GPU)", "capability": None, "sms": None, "torch": None, "cuda": None,
              "triton": None, "python": platform.python_version()}
    tests = {"returncode": 0, "tests": 0, "failures": 0, "errors": 0, "skipped": 0, "passed": 0, "wall_s": 0}
    scan = {"cuda": [{"dtype": "float32", "L": 4096, "fwd_ms": 1.0, "fwd_bwd_ms": 2.0, "fwd_GBps": 100.0,
                      "fwd_bwd_GBps": 100.0}]}
    model = {"results": {"mamba": {"4096": {"status": "ok", "train_us_per_token": 1.0, "infer_us_per_token": 0.5}},
                         "transformer": {"4096": {"status": "timeout"}}}}
    return device, tests, scan, model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_check.json")
    p.add_argument("--lengths", type=int, nargs="+", default=LENGTHS)
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
        device = device_info()
        peak = peak_bandwidth(device["name"])
        with tempfile.TemporaryDirectory() as tmp:
            tmpd = Path(tmp)
            tests = ({"skipped_by_flag": True, "returncode": 0, "failures": 0, "errors": 0}
                     if args.skip_tests else run_gpu_tests(tmpd / "junit.xml", Path(args.out).with_name("gpu_tests.log")))
            scan_cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_scan.py"), "--device", "cuda", "--skip-cpu",
                        "--lengths", *map(str, args.lengths)]
            if peak:
                scan_cmd += ["--peak-bw", str(peak)]
            # the parts are kept beside --out, so a run cut short still leaves what it measured
            scan = _run_json(scan_cmd, Path(args.out).with_suffix(".scan.json"), timeout=1800)
            model = _run_json(
                [sys.executable, str(ROOT / "benchmarks" / "bench_model.py"), "--device", "cuda", "--models", "mamba",
                 "transformer", "--lengths", *map(str, args.lengths)],
                Path(args.out).with_suffix(".model.json"), timeout=3600,
            )
        doc = summarize(device, tests, scan, model, stub=False)
        doc["raw"] = {"bench_scan": scan, "bench_model": model}
    tmp_out = Path(args.out).with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp_out, args.out)  # atomic: no half-written report
    print(json.dumps({k: doc[k] for k in ("stub", "device", "gpu_tests", "goals", "ok")}, indent=2))
    return 0 if doc["ok"] or doc["stub"] else 1


if __name__ == "__main__":
    sys.exit(main())
