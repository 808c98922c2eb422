"""Benchmark the selective scan: numba CPU path vs the per-step PyTorch reference (and Triton on CUDA).

Prints one JSON document. Every (backend, L) point runs in its own subprocess so that the peak
resident memory (``resource.getrusage``, minus the RSS after inputs are built and the kernels are
warmed up) belongs to that point alone.

    python benchmarks/bench_scan.py                       # CPU: batch 2, d 256, n 16, L 1024/4096/16384
    python benchmarks/bench_scan.py --device cuda         # also Triton fwd / fwd+bwd via do_bench
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

H100_SXM_HBM_BYTES_PER_S = 3.35e12


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _make(batch: int, d: int, n: int, L: int, device: str, dtype, requires_grad: bool, channel_last: bool):
    """Scan inputs keyed by argument name, and the leaf tensors that receive gradients.

    ``channel_last``: u, delta, z, B, C are (batch, d|n, L) views of (batch, L, d|n) memory, the
    layout the model passes (its activations are (batch, L, channels)); otherwise contiguous.
    """
    import torch

    g = torch.Generator().manual_seed(0)

    def seq(ch: int, scale: float = 1.0):
        if channel_last:
            return torch.randn(batch, L, ch, generator=g) * scale
        return torch.randn(batch, ch, L, generator=g) * scale

    x = {
        "u": seq(d),
        "delta": seq(d, 0.5),
        "A": -(torch.rand(d, n, generator=g) + 0.2),
        "B": seq(n),
        "C": seq(n),
        "D": torch.randn(d, generator=g),
        "z": seq(d),
        "delta_bias": torch.randn(d, generator=g) * 0.5,
    }
    x = {k: v.to(device=device, dtype=dtype if k in ("u", "delta", "z") else torch.float32) for k, v in x.items()}
    leaves = list(x.values())
    if requires_grad:
        for v in leaves:
            v.requires_grad_()
    if channel_last:
        x = {k: (v.transpose(1, 2) if v.dim() == 3 else v) for k, v in x.items()}
    return x, leaves


def _worker(args: argparse.Namespace) -> dict:
    """One (backend, L) point on CPU: fwd and fwd+bwd wall time and peak RSS growth."""
    import torch
    from genomamba.kernels import selective_scan

    torch.set_num_threads(os.cpu_count() or 1)
    backend, L = args.backend, args.L

    def call(x):
        return selective_scan(**x, delta_softplus=True, backend=backend)

    # Warm-up at a tiny length: numba cache load / compile, torch lazy init.
    warm, _ = _make(1, 4, args.n, 8, "cpu", torch.float32, True, channel_last=True)
    call(warm).sum().backward()
    x_fwd, _ = _make(args.batch, args.d, args.n, L, "cpu", torch.float32, False, channel_last=True)
    x_bwd, leaves = _make(args.batch, args.d, args.n, L, "cpu", torch.float32, True, channel_last=True)
    grad = torch.randn(args.batch, args.d, L)
    base = _rss_mb()

    fwd_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            call(x_fwd)
        fwd_times.append(time.perf_counter() - t0)
    peak_fwd = _rss_mb() - base
    fb_times = []
    for _ in range(args.repeats):
        for v in leaves:
            v.grad = None
        t0 = time.perf_counter()
        call(x_bwd).backward(grad)
        fb_times.append(time.perf_counter() - t0)
    peak_fb = _rss_mb() - base
    fwd, fb = statistics.median(fwd_times), statistics.median(fb_times)
    tokens = args.batch * L
    return {
        "backend": backend,
        "L": L,
        "fwd_s": fwd,
        "fwd_bwd_s": fb,
        "fwd_us_per_token": 1e6 * fwd / tokens,
        "fwd_bwd_us_per_token": 1e6 * fb / tokens,
        "peak_rss_growth_fwd_mb": round(peak_fwd, 1),
        "peak_rss_growth_fwd_bwd_mb": round(peak_fb, 1),
        "repeats": args.repeats,
    }


def _run_point(args: argparse.Namespace, backend: str, L: int, repeats: int, env: dict | None = None) -> dict:
    cmd = [
        sys.executable, __file__, "--worker", "--backend", backend, "--L", str(L), "--batch", str(args.batch),
        "--d", str(args.d), "--n", str(args.n), "--repeats", str(repeats),
    ]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _numba_first_call(cold: bool) -> float:
    """Seconds for the first fwd+bwd call in a fresh process (cold: empty numba cache dir)."""
    code = (
        "import time, torch; t=time.perf_counter();"
        "from genomamba.kernels.cpu_scan import selective_scan_cpu as f;"
        "x=[torch.randn(1,2,8,requires_grad=True), torch.randn(1,2,8,requires_grad=True),"
        " -torch.rand(2,4).requires_grad_(), torch.randn(1,4,8,requires_grad=True), torch.randn(1,4,8,requires_grad=True)];"
        "f(*x).sum().backward(); print(time.perf_counter()-t)"
    )
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if cold:
            env["NUMBA_CACHE_DIR"] = tmp
        res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    return float(res.stdout.strip().splitlines()[-1])


def _bench_cuda(args: argparse.Namespace) -> list[dict]:
    import torch
    import triton.testing
    from genomamba.kernels import selective_scan

    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for L in args.lengths:
            x, leaves = _make(args.batch, args.d, args.n, L, "cuda", dtype, True, channel_last=False)
            grad = torch.randn(args.batch, args.d, L, device="cuda", dtype=dtype)

            def fwd():
                with torch.no_grad():
                    selective_scan(**x, delta_softplus=True)

            def fwd_bwd():
                selective_scan(**x, delta_softplus=True).backward(grad)

            t_fwd = triton.testing.do_bench(fwd) * 1e-3
            t_fb = triton.testing.do_bench(fwd_bwd, grad_to_none=leaves) * 1e-3
            # Bytes that must cross HBM at least once: fwd reads u, delta, z, B, C and writes out;
            # bwd re-reads those, reads dout and writes du, ddelta, dz, dB, dC (fp32).
            size = lambda k: x[k].numel() * x[k].element_size()  # noqa: E731
            act = x["u"].numel()
            fwd_bytes = size("u") + size("delta") + size("z") + size("B") + size("C") + size("u")
            bwd_bytes = fwd_bytes + act * x["u"].element_size() + 3 * act * 4 + 2 * x["B"].numel() * 4
            rows.append({
                "backend": "triton", "dtype": str(dtype).removeprefix("torch."), "L": L,
                "fwd_ms": t_fwd * 1e3, "fwd_bwd_ms": t_fb * 1e3,
                "fwd_GBps": fwd_bytes / t_fwd / 1e9,
                "fwd_pct_hbm_peak_h100_sxm": 100 * fwd_bytes / t_fwd / H100_SXM_HBM_BYTES_PER_S,
                "fwd_bwd_GBps": (fwd_bytes + bwd_bytes) / t_fb / 1e9,
                "fwd_bwd_pct_hbm_peak_h100_sxm": 100 * (fwd_bytes + bwd_bytes) / t_fb / H100_SXM_HBM_BYTES_PER_S,
                "peak_cuda_mem_mb": torch.cuda.max_memory_allocated() / 2**20,
            })
            torch.cuda.reset_peak_memory_stats()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384])
    p.add_argument("--ref-max-len", type=int, default=4096,
                   help="longest L at which the per-step reference is run; longer ones are extrapolated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", default="cpu", help=argparse.SUPPRESS)
    p.add_argument("--L", type=int, default=1024, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return

    import numba
    import torch

    report: dict = {
        "shape": {"batch": args.batch, "d": args.d, "n": args.n, "dtype": "float32", "delta_softplus": True,
                  "D": True, "z": True, "delta_bias": True,
                  "cpu_layout": "u, delta, z, B, C as (batch, channels, L) views of channel-last memory, as the model passes them"},
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "numba_threads": numba.get_num_threads(),
                    "torch": torch.__version__, "numba": numba.__version__},
        "timing": "median wall time of --repeats runs (reference: 1 run); fwd under no_grad",
        "numba_first_call_s": {"cold_compile": _numba_first_call(cold=True),
                               "cached": _numba_first_call(cold=False)},
        "cpu": [],
    }
    rows = {}
    for L in args.lengths:
        cpu = _run_point(args, "cpu", L, args.repeats)
        row = {"L": L, "cpu_path": cpu}
        if L <= args.ref_max_len:
            ref = _run_point(args, "reference", L, 1)
            row["reference"] = ref
        else:
            known = [r for r in rows.values() if "reference" in r and not r["reference"].get("extrapolated")]
            if known:
                last = max(known, key=lambda r: r["L"])["reference"]
                scale = L / last["L"]
                row["reference"] = {"extrapolated": True, "from_L": last["L"],
                                    "note": f"not run (L > --ref-max-len {args.ref_max_len}); linear in L from L={last['L']}",
                                    "fwd_s": last["fwd_s"] * scale, "fwd_bwd_s": last["fwd_bwd_s"] * scale}
        if "reference" in row:
            row["speedup_fwd"] = row["reference"]["fwd_s"] / cpu["fwd_s"]
            row["speedup_fwd_bwd"] = row["reference"]["fwd_bwd_s"] / cpu["fwd_bwd_s"]
        rows[L] = row
        report["cpu"].append(row)
    lo, hi = min(args.lengths), max(args.lengths)
    report[f"cpu_path_time_ratio_L{hi}_over_L{lo}"] = {
        "fwd": rows[hi]["cpu_path"]["fwd_s"] / rows[lo]["cpu_path"]["fwd_s"],
        "fwd_bwd": rows[hi]["cpu_path"]["fwd_bwd_s"] / rows[lo]["cpu_path"]["fwd_bwd_s"],
        "length_ratio": hi / lo,
    }
    if args.device == "cuda":
        report["cuda"] = _bench_cuda(args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
