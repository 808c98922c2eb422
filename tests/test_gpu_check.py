"""The computed scan floors (benchmarks/bench_scan.py) and ``make gpu-check``'s logic
(benchmarks/gpu_check.py, bench_model_gpu.py), on CPU. The CUDA measurements themselves need a GPU;
here their results are replaced by canned inputs (and the document says so, ``stub``), the scan
benchmark's per-point code runs through the Triton interpreter with a stand-in timer, and the
long-window training step runs the real CLI on CPU at a short window."""

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


def _scan_row(impl: str, dtype: str, L: int, x_hbm: float, ms: float = 1.0, batch: int = 2, d: int = 256) -> dict:
    return {"impl": impl, "batch": batch, "d": d, "n": 16, "dtype": dtype, "L": L, "fwd_ms": ms / 3,
            "fwd_train_ms": ms / 3, "bwd_ms": 2 * ms / 3, "fwd_bwd_ms": ms, "fwd_bwd_x_hbm": x_hbm,
            "fwd_bwd_x_floor": x_hbm / 2}


def test_floors_per_direction_at_h100() -> None:
    dev = bench_scan.device_figures("NVIDIA H100 80GB HBM3")
    assert dev == {"hbm_bytes_per_s": 3.35e12, "clock_hz": 1.98e9, "sms": 132}
    f = bench_scan.floors(2, 256, 16, 4096, 4, dev)
    b = bench_scan.scan_bytes(2, 256, 16, 4096, 4, chunk=1 << 30)
    elems = 2 * 256 * 4096 * 16
    assert f["fwd"]["hbm"] == pytest.approx(1e3 * b["floor_fwd"] / 3.35e12)
    assert f["bwd"]["issue"] == pytest.approx(1e3 * elems * 23 / (128 * 132 * 1.98e9))
    assert f["fwd"]["sfu"] == pytest.approx(1e3 * elems / (16 * 132 * 1.98e9))
    for k in ("fwd", "bwd"):
        assert f[k]["floor"] == max(f[k]["hbm"], f[k]["issue"], f[k]["sfu"])
    assert f["fwd_bwd"]["floor"] == pytest.approx(f["fwd"]["floor"] + f["bwd"]["floor"])
    # The issue's figures at this shape: ~33 us of HBM bytes fwd+bwd in fp32; bf16 halves the bytes
    # but not the instructions.
    assert 25e-3 < f["fwd_bwd"]["hbm"] < 40e-3
    bf = bench_scan.floors(2, 256, 16, 4096, 2, dev)
    assert bf["fwd_bwd"]["hbm"] == pytest.approx(f["fwd_bwd"]["hbm"] / 2, rel=0.01)
    assert bf["fwd_bwd"]["issue"] == f["fwd_bwd"]["issue"] and bf["fwd_bwd"]["floor"] > bf["fwd_bwd"]["hbm"]
    row = bench_scan._with_floors({"fwd_ms": 0.02, "fwd_train_ms": 0.02, "bwd_ms": 0.04}, 2, 256, 16, 4096, 4, dev)
    assert row["fwd_bwd_ms"] == pytest.approx(0.06)
    assert row["fwd_bwd_x_hbm"] == pytest.approx(0.06 / f["fwd_bwd"]["hbm"])
    assert bench_scan.device_figures("Some Future GPU") is None


def test_cuda_points_measure_the_issue_table_first() -> None:
    points = bench_scan._cuda_points([(2, 256), (1, 2048)], ("f32", "bf16"), [1024, 4096, 16384, 65536, 262144])
    assert points[:6] == [(2, 256, "f32", 4096), (2, 256, "f32", 16384), (2, 256, "f32", 65536),
                          (2, 256, "bf16", 4096), (2, 256, "bf16", 16384), (2, 256, "bf16", 65536)]
    assert points[6:10] == [(2, 256, "f32", 1024), (2, 256, "f32", 262144), (2, 256, "bf16", 1024),
                            (2, 256, "bf16", 262144)]
    assert len(points) == 20 and all(p[:2] == (1, 2048) for p in points[10:])
    assert bench_scan._shape("1x2048") == (1, 2048)
    with pytest.raises(Exception, match="BATCHxD_INNER"):
        bench_scan._shape("2048")


def test_bench_point_runs_both_implementations_in_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA benchmark's per-point code (implementation switch, training forward, backward on a
    retained graph) on CPU tensors through the Triton interpreter; the CUDA-event timer is replaced
    by one call (no figure here is a timing)."""
    calls = []
    monkeypatch.setattr(bench_scan, "_cuda_time_ms", lambda fn: calls.append(fn()) or 1.0)
    g = torch.Generator().manual_seed(0)
    x = {"u": torch.randn(1, 2, 9, generator=g), "delta": torch.randn(1, 2, 9, generator=g) * 0.5,
         "A": -torch.rand(2, 2, generator=g) - 0.2, "B": torch.randn(1, 2, 9, generator=g),
         "C": torch.randn(1, 2, 9, generator=g), "D": torch.randn(2, generator=g), "z": torch.randn(1, 2, 9, generator=g),
         "delta_bias": torch.randn(2, generator=g)}
    leaves = [v.requires_grad_() for v in x.values()]
    grad = torch.randn(1, 2, 9, generator=g)
    for impl in ("v1", "chunked"):
        assert bench_scan._bench_point(x, leaves, grad, impl) == {"fwd_ms": 1.0, "fwd_train_ms": 1.0, "bwd_ms": 1.0}
    row = bench_scan._bench_point(x, leaves, grad, "chunked", {"chunk": 4, "segments": 2})
    assert row["bwd_ms"] == 1.0 and len(calls) == 9
    rows = [_scan_row("v1", "float32", 4096, 40, ms=2.0), _scan_row("chunked", "float32", 4096, 4, ms=0.5)]
    assert bench_scan._speedups(rows) == [{"batch": 2, "d": 256, "dtype": "float32", "L": 4096,
                                           "fwd_v1_over_chunked": 4.0, "bwd_v1_over_chunked": 4.0,
                                           "fwd_bwd_v1_over_chunked": 4.0}]


def test_plain_reverse_check_runs_in_the_interpreter() -> None:
    """make gpu-check's check of the plain reverse-scan combine, on CPU through the interpreter (whose
    operand order the plain combine assumes): both combines match the reference there."""
    from triton_interp import fast_interpreter_scan

    with fast_interpreter_scan():
        rows = bench_scan.check_plain_reverse(lengths=(20,), device="cpu", shape=(1, 2, 2), chunk=8, block_d=2)
    assert [(r["dtype"], r["L"]) for r in rows] == [("float32", 20), ("bfloat16", 20)]
    for r in rows:
        assert r["plain"]["matches"] and r["position_ordered"]["matches"], r


def test_summary_before_after_goals_and_status() -> None:
    device = {"name": "NVIDIA H100 80GB HBM3"}
    tests = {"returncode": 0, "failures": 0, "errors": 0,
             "by_implementation": {"v1": {"tests": 10, "failed": 0, "skipped": 0},
                                   "chunked": {"tests": 12, "failed": 0, "skipped": 0}}}
    scan = {"cuda": {"rows": [
        _scan_row("v1", "float32", 4096, 38.0, ms=1.1), _scan_row("chunked", "float32", 4096, 1.4, ms=0.04),
        _scan_row("v1", "bfloat16", 4096, 80.0, ms=1.2), _scan_row("chunked", "bfloat16", 4096, 3.0, ms=0.05),
        _scan_row("chunked", "float32", 1024, 9.0), _scan_row("chunked", "float32", 4096, 9.0, batch=1, d=2048),
    ], "skipped": [{"L": 1048576, "reason": "needs ~123 GiB"}]}}
    model = {"results": {
        "mamba/chunked": {"1024": {"status": "ok", "train_us_per_token": 2.0, "train_graph_us_per_token": 0.5},
                          "65536": {"status": "ok", "train_us_per_token": 0.5}},
        "transformer": {"1024": {"status": "ok", "train_us_per_token": 1.0, "train_graph_us_per_token": 0.6},
                        "65536": {"status": "ok", "train_us_per_token": 12.0}},
    }, "summary": {}}
    train = {"status": "ok", "rows": [{"L": 65536, "status": "ok", "peak_mem_bytes_per_base": 100.0},
                                      {"L": 1048576, "status": "ok", "peak_mem_bytes_per_base": 105.0}],
             "memory_per_base_flatness": 1.05}
    doc = gpu_check.summarize(device, tests, scan, model, train, stub=False)
    table = {(e["dtype"], e["L"]): e for e in doc["scan_before_after"]}
    assert table[("float32", 4096)]["speedup"] == pytest.approx(27.5)
    assert table[("float32", 4096)]["v1_fwd_bwd_x_hbm"] == 38.0 and table[("float32", 4096)]["chunked_fwd_bwd_x_hbm"] == 1.4
    assert ("float32", 1024) in table and len(table) == 3  # batch 1 x d 2048 is not in the issue's table
    g = doc["goals"]
    assert g["chunked_gpu_tests_pass"] is True
    assert g["scan_fp32_fwd_bwd_le_1.5x_hbm_at_L_ge_4k"] is True  # the L 1k row is not judged
    assert g["scan_bf16_fwd_bwd_le_2.5x_hbm_at_L_ge_4k"] is False
    assert g["mamba_train_token_no_slower_than_attention_at_1k_eager"] is False
    assert g["mamba_train_token_no_slower_than_attention_at_1k_cuda_graph"] is True
    assert g["mamba_ge_20x_faster_than_attention_at_64k"] is True
    assert g["trains_1mb_windows"] is True and g["memory_per_base_flat_64k_to_1mb"] is True
    assert doc["ok"] is True and doc["stub"] is False and doc["scan_skipped"]
    failed = gpu_check.summarize(device, dict(tests, failures=1, returncode=1), scan, model, train, stub=False)
    assert failed["ok"] is False
    missing = gpu_check.summarize({"name": "Unknown"}, tests, None, None, None, stub=False)
    assert missing["ok"] is False and missing["peak_hbm_bytes_per_s"] is None
    assert all(v is None for k, v in missing["goals"].items() if k != "chunked_gpu_tests_pass")


def test_junit_cases_counted_per_implementation(tmp_path: Path) -> None:
    xml = tmp_path / "j.xml"
    xml.write_text(
        '<testsuites><testsuite tests="4" failures="1" errors="0" skipped="1">'
        '<testcase name="test_triton_cuda_matches_reference[v1-dtype0-217]"/>'
        '<testcase name="test_triton_cuda_matches_reference[chunked-dtype0-217]"><failure message="x"/></testcase>'
        '<testcase name="test_chunked_cuda_variants_match_reference[fp32]"><skipped/></testcase>'
        '<testcase name="test_cuda_matches_cpu"/>'
        "</testsuite></testsuites>")
    assert gpu_check.junit_by_implementation(xml) == {
        "v1": {"tests": 2, "failed": 0, "skipped": 0}, "chunked": {"tests": 3, "failed": 1, "skipped": 1}}


def test_budget_shares_leave_time_for_every_step() -> None:
    now = [0.0]
    budget = gpu_check.Budget(450, clock=lambda: now[0])
    shares = {}
    for step in ("gpu_tests", "scan", "model", "train", "sweep"):
        shares[step] = budget.share(step)
        now[0] += shares[step] * 0.9  # each step ends a little inside its share
    assert shares["gpu_tests"] == pytest.approx(0.35 * 450)
    assert all(shares[s] >= gpu_check.STEP_SHARES[s][1] for s in shares)
    assert sum(0.9 * v for v in shares.values()) <= 450
    now[0] = 500
    assert budget.left() == 0 and budget.share("scan") == 0


def test_cli_packages_from_unpacked_wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the CLI's packages do not import (a GPU image without Hydra), their pure-Python wheels
    are unpacked onto PYTHONPATH; without wheels the training step is skipped with the reason."""
    import zipfile

    monkeypatch.setattr(gpu_check, "CLI_MODULES", ("gpu_check_fake_pkg",))
    wheels = tmp_path / "whl"
    wheels.mkdir()
    extra, reason = gpu_check.cli_pythonpath(wheels, tmp_path / "site")
    assert extra is None and "gpu_check_fake_pkg not importable" in reason and "make gpu-wheels" in reason
    with zipfile.ZipFile(wheels / "gpu_check_fake_pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("gpu_check_fake_pkg/__init__.py", "VALUE = 1\n")
    extra, reason = gpu_check.cli_pythonpath(wheels, tmp_path / "site")
    assert reason is None and extra == str(tmp_path / "site")
    assert (tmp_path / "site" / "gpu_check_fake_pkg" / "__init__.py").exists()
    monkeypatch.setattr(gpu_check, "CLI_MODULES", ("json",))
    assert gpu_check.cli_pythonpath(None, tmp_path / "unused") == ("", None)


HIDE_SITE_PACKAGES = '''
import importlib.abc, importlib.machinery, sys
HIDE = {"hydra", "omegaconf", "antlr4", "pyfaidx", "Bio", "pysam"}
class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDE:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.origin and "site-packages" in spec.origin:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Hide())
'''


def test_long_window_training_through_the_cli_on_cpu(tmp_path: Path) -> None:
    """The GPU step's exact `genomamba train` overrides and wrapper, at a 1 kb window on CPU
    (trainer=cpu, model=tiny, 3 steps), as on a GPU image without the data stack: Hydra, OmegaConf,
    pyfaidx, Biopython and pysam are hidden from this interpreter, and Hydra, OmegaConf (with antlr4)
    and pyfaidx come from wheels (here: zips of the installed packages) unpacked onto PYTHONPATH."""
    import importlib.util
    import os
    import subprocess
    import sys
    import zipfile

    wheels = tmp_path / "whl"
    wheels.mkdir()
    for name in ("hydra", "omegaconf", "antlr4", "pyfaidx"):
        pkg = Path(importlib.util.find_spec(name).submodule_search_locations[0])
        with zipfile.ZipFile(wheels / f"{name}-0-py3-none-any.whl", "w") as z:
            for f in pkg.rglob("*"):
                if f.is_file() and "__pycache__" not in f.parts:
                    z.write(f, f.relative_to(pkg.parent))
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "sitecustomize.py").write_text(HIDE_SITE_PACKAGES)
    code = (f"import json, sys; from pathlib import Path; sys.path.insert(0, {str(ROOT / 'tests')!r}); "
            "from benchmark_scripts import load_benchmark; gc = load_benchmark('gpu_check'); "
            "print('importable', gc._importable('hydra'), gc._importable('Bio')); "
            f"res = gc.run_long_windows([1024], 600, Path({str(tmp_path / 'work')!r}), Path({str(wheels)!r}), "
            "trainer='cpu', model='tiny', steps=3); print('RESULT ' + json.dumps(res))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "hide"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "importable False False" in proc.stdout
    res = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT ")).removeprefix("RESULT "))
    assert res["status"] == "ok", res
    (row,) = res["rows"]
    assert row["status"] == "ok", row
    assert row["steps_timed"] == 2 and row["tokens_per_s"] > 0 and "peak_mem_gib" not in row
    assert (tmp_path / "work" / "run_1024" / "metrics.json").exists()


def test_train_run_parsing_and_flatness() -> None:
    line = 'GPU_CHECK_TRAIN {"returncode": 0, "wall_s": 12.0, "step_times": [1.0, 2.0, 3.0], "peak_bytes": 2147483648}'
    row = gpu_check.parse_train_run(65536, 0, "noise\n" + line + "\n", "")
    assert row == {"L": 65536, "status": "ok", "steps_timed": 2, "wall_s": 12.0, "tokens_per_s": 65536.0,
                   "s_per_step": 1.0, "peak_mem_gib": 2.0, "peak_mem_bytes_per_base": 32768.0}
    assert gpu_check.parse_train_run(8, 1, "", "Traceback\nboom")["status"] == "failed"
    rows = [{"L": 1048576, "status": "ok", "peak_mem_bytes_per_base": 110.0},
            {"L": 65536, "status": "ok", "peak_mem_bytes_per_base": 100.0}, {"L": 262144, "status": "timeout"}]
    assert gpu_check.flatness(rows) == 1.1
    assert gpu_check.flatness(rows[:1]) is None


def test_model_bench_summary_ratios() -> None:
    bench_model_gpu = load_benchmark("bench_model_gpu")
    results = {"mamba/chunked": {"1024": {"status": "ok", "train_us_per_token": 2.0}},
               "transformer": {"1024": {"status": "ok", "train_us_per_token": 3.0}}}
    assert bench_model_gpu.summarize(results, [1024]) == {"attention_over_mamba_train_us_per_token_L1024_chunked": 1.5}


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
    assert doc["scan"] and doc["model_time_per_token"] and doc["scan_before_after"]
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
