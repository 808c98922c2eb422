"""The computed scan roofline (benchmarks/bench_scan.py) and the gpu-check JSON assembly
(benchmarks/gpu_check.py), on CPU. The CUDA measurements themselves need a GPU (``make gpu-check``);
here they are replaced by canned inputs, and the document says so (``stub``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from benchmark_scripts import ROOT, load_benchmark

bench_scan = load_benchmark("bench_scan")
gpu_check = load_benchmark("gpu_check")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_floor_bytes_count_each_input_and_output_once(dtype: torch.dtype) -> None:
    batch, d, n, L = 2, 3, 4, 5
    act = lambda: torch.empty(batch, d, L, dtype=dtype)  # noqa: E731
    bc = lambda: torch.empty(batch, n, L, dtype=dtype)  # noqa: E731
    f32 = dict(dtype=torch.float32)
    fwd_in = [act(), act(), act(), bc(), bc(), torch.empty(d, n, **f32), torch.empty(d, **f32)]  # u delta z B C A D
    fwd_out = [act()]
    bwd_in = [act(), act(), act(), bc(), bc(), act(), torch.empty(d, n, **f32), torch.empty(d, **f32)]  # + dout
    bwd_out = [act(), act(), act(), bc(), bc(), torch.empty(d, n, **f32), torch.empty(d, **f32)]
    nbytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)  # noqa: E731
    b = bench_scan.scan_bytes(batch, d, n, L, torch.empty(0, dtype=dtype).element_size(), chunk=2)
    assert b["floor_fwd"] == nbytes(fwd_in + fwd_out)
    assert b["floor_bwd"] == nbytes(bwd_in + bwd_out)
    # The kernels move more: checkpoints (3 chunks of n fp32 states per channel), fp32 grads.
    assert b["as_built_fwd_train"] == b["floor_fwd"] + batch * d * 3 * n * 4 + batch * d * n * 4
    assert b["as_built_fwd_bwd"] > b["floor_fwd_bwd"]


def test_roofline_covers_1k_to_64k_at_h100_and_a100_bandwidth() -> None:
    rows = bench_scan.roofline(2, 256, 16, bench_scan.ROOFLINE_LENGTHS)
    assert {r["L"] for r in rows} >= {1024, 65536} and {r["dtype"] for r in rows} == {"float32", "bfloat16"}
    for r in rows:
        fb = r["bytes"]["floor_fwd_bwd"]
        assert r["floor_ms_h100_sxm"]["fwd_bwd"] == pytest.approx(1e3 * fb / 3.35e12)
        assert r["floor_ms_a100_80gb"]["fwd_bwd"] == pytest.approx(1e3 * fb / 2.0e12)
    # Linear in L: the per-token floor is flat.
    per_tok = {r["floor_ms_h100_sxm"]["fwd_bwd_ns_per_token"] for r in rows if r["dtype"] == "bfloat16"}
    assert max(per_tok) / min(per_tok) < 1.01


def test_peak_bandwidth_by_device_name() -> None:
    assert gpu_check.peak_bandwidth("NVIDIA H100 80GB HBM3") == 3.35e12
    assert gpu_check.peak_bandwidth("NVIDIA H100 PCIe") == 2.0e12
    assert gpu_check.peak_bandwidth("NVIDIA A100-SXM4-80GB") == 2.039e12
    assert gpu_check.peak_bandwidth("Some Future GPU") is None


def test_summary_fractions_goals_and_status() -> None:
    device = {"name": "NVIDIA H100 80GB HBM3"}
    tests = {"returncode": 0, "failures": 0, "errors": 0}
    scan = {"cuda": [
        {"dtype": "bfloat16", "L": 4096, "fwd_ms": 0.1, "fwd_bwd_ms": 0.3, "fwd_GBps": 1675.0, "fwd_bwd_GBps": 2680.0},
        {"dtype": "bfloat16", "L": 1024, "fwd_ms": 0.1, "fwd_bwd_ms": 0.3, "fwd_GBps": 100.0, "fwd_bwd_GBps": 100.0},
    ]}
    model = {"results": {
        "mamba": {"1024": {"status": "ok", "train_us_per_token": 2.0, "infer_us_per_token": 1.0},
                  "4096": {"status": "ok", "train_us_per_token": 2.0, "infer_us_per_token": 1.0}},
        "transformer": {"1024": {"status": "ok", "train_us_per_token": 1.0, "infer_us_per_token": 0.5},
                        "4096": {"status": "ok", "train_us_per_token": 3.0, "infer_us_per_token": 2.0}},
    }}
    doc = gpu_check.summarize(device, tests, scan, model, stub=False)
    at4k = doc["scan"][0]
    assert at4k["fwd_frac_of_peak"] == pytest.approx(0.5)
    assert at4k["fwd_bwd_frac_of_peak"] == pytest.approx(0.8)
    assert at4k["fwd_bwd_time_over_floor"] == pytest.approx(1.25)
    assert doc["goals"]["scan_fwd_bwd_within_1.5x_floor_at_L_ge_4096"] is True
    assert doc["goals"]["mamba_faster_per_token_than_attention_from_4k"] is True  # 1k is not judged
    assert [e["mamba_faster_train"] for e in doc["model_time_per_token"]] == [False, True]
    assert doc["ok"] is True and doc["stub"] is False
    failed = gpu_check.summarize(device, dict(tests, failures=1, returncode=1), scan, model, stub=False)
    assert failed["ok"] is False
    missing = gpu_check.summarize({"name": "Unknown"}, tests, None, None, stub=False)
    assert missing["ok"] is False and missing["peak_hbm_bytes_per_s"] is None


def test_junit_counts(tmp_path: Path) -> None:
    xml = tmp_path / "j.xml"
    xml.write_text('<testsuites><testsuite tests="5" failures="1" errors="0" skipped="2"/></testsuites>')
    assert gpu_check.junit_counts(xml) == {"tests": 5, "failures": 1, "errors": 0, "skipped": 2, "passed": 2}
    assert gpu_check.junit_counts(tmp_path / "missing.xml")["tests"] == 0


def test_stub_run_writes_a_labelled_document(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--stub-cuda", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["stub"] is True and doc["note"].startswith("STUB") and doc["ok"] is None
    assert doc["scan"] and doc["model_time_per_token"]
    assert list(tmp_path.iterdir()) == [out]  # no temporary left behind


def test_without_cuda_gpu_check_refuses_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "x.json")]) == 2
    assert not list(tmp_path.iterdir())


BLOCKER = '''
import importlib.util, sys
MISSING = {"pyfaidx", "hydra", "omegaconf", "pysam", "Bio", "pyrodigal", "snakemake"}
class _Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in MISSING:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Missing())
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: (
    None if name.split(".")[0] in MISSING else _find_spec(name, package))
'''


def test_gpu_tests_collect_without_the_data_stack(tmp_path: Path) -> None:
    """``make gpu-check`` runs ``pytest -m gpu`` on tests/kernels and tests/models with a GPU image's
    own packages, which may lack pyfaidx, Hydra, pysam, ...: a module-level import of those in any
    file there stops collection and no GPU test runs (found while preparing the first H200 run)."""
    import subprocess
    import sys

    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "--collect-only",
         str(ROOT / "tests" / "kernels"), str(ROOT / "tests" / "models")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "test_triton_cuda_matches_reference" in res.stdout and "test_cuda_matches_cpu" in res.stdout
