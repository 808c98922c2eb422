"""Benchmark the selective scan: numba CPU path vs the per-step PyTorch reference (and Triton on CUDA).

Prints one JSON document. Every (backend, L) point runs in its own subprocess so that the peak
resident memory (``resource.getrusage``, minus the RSS after inputs are built and the kernels are
warmed up) belongs to that point alone.

    python benchmarks/bench_scan.py                       # CPU: batch 2, d 256, n 16, L 1024/4096/16384
    python benchmarks/bench_scan.py --device cuda         # also Triton fwd / fwd+bwd via do_bench
    python benchmarks/bench_scan.py --roofline-only       # computed HBM floor, L 1k-64k (no timing)

Roofline. For each shape the bytes that must cross HBM are computed, not measured: the
``floor`` counts every input read once and every output written once in the input dtype
(forward: u, delta, z, B, C in, out out; backward: u, delta, z, B, C, dout in, du, ddelta, dz,
dB, dC out); ``as_built`` adds what the Triton kernels move on top (chunk-start checkpoints,
fp32 gradients and their casts, zero-filled dB / dC). Time at HBM peak = bytes / bandwidth, for
an H100 SXM (3.35 TB/s) and an A100 80GB (2.0 TB/s); a measured time divided by it says how far
a kernel is from the bandwidth floor.
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
A100_80GB_HBM_BYTES_PER_S = 2.0e12
ROOFLINE_DEVICES = {"h100_sxm": H100_SXM_HBM_BYTES_PER_S, "a100_80gb": A100_80GB_HBM_BYTES_PER_S}
ROOFLINE_LENGTHS = [1024, 2048, 4096, 8192, 16384, 32768, 65536]


def scan_bytes(batch: int, d: int, n: int, L: int, elem_bytes: int, chunk: int) -> dict[str, int]:
    """HBM bytes of one selective scan (D skip and z gate, as the model calls it).

    ``floor_*``: inputs read once and outputs written once in the input dtype. ``as_built_*``:
    plus the Triton kernels' chunk-start checkpoints (fp32, n per channel per chunk), fp32
    du / ddelta / dz / dB / dC and their casts back to the input dtype, and the zero fill of dB / dC.
    """
    act = batch * d * L  # u, delta, z, out, dout, du, ddelta, dz
    bc = batch * n * L  # B, C, dB, dC
    small = (2 * d * n + 2 * d) * 4  # A, dA, D, dD (fp32)
    ckpt = batch * d * -(-L // chunk) * n * 4
    last = batch * d * n * 4
    floor_fwd = (3 * act + 2 * bc) * elem_bytes + act * elem_bytes + small // 2
    floor_bwd = (4 * act + 2 * bc) * elem_bytes + (3 * act + 2 * bc) * elem_bytes + small
    casts = 0 if elem_bytes == 4 else (3 * act + 2 * bc) * (4 + elem_bytes)
    as_built_fwd_train = floor_fwd + ckpt + last
    as_built_bwd = (
        (4 * act + 2 * bc) * elem_bytes + ckpt  # reads
        + 3 * act * 4 + 2 * bc * 4 * 2  # fp32 du, ddelta, dz; dB, dC zero fill + result
        + casts + small
    )
    return {
        "floor_fwd": floor_fwd, "floor_bwd": floor_bwd, "floor_fwd_bwd": floor_fwd + floor_bwd,
        "as_built_fwd_infer": floor_fwd + last, "as_built_fwd_train": as_built_fwd_train,
        "as_built_bwd": as_built_bwd, "as_built_fwd_bwd": as_built_fwd_train + as_built_bwd,
    }


def roofline(batch: int, d: int, n: int, lengths: list[int]) -> list[dict]:
    """Bytes and predicted time at HBM peak per (dtype, L), with the CHUNK the launcher picks."""
    from genomamba.kernels.launch_config import scan_config

    chunk = scan_config(batch, d, n).chunk
    rows = []
    for dtype, elem in (("float32", 4), ("bfloat16", 2)):
        for L in lengths:
            b = scan_bytes(batch, d, n, L, elem, chunk)
            row: dict = {"dtype": dtype, "L": L, "chunk": chunk, "bytes": b}
            for dev, bw in ROOFLINE_DEVICES.items():
                row[f"floor_ms_{dev}"] = {
                    "fwd": 1e3 * b["floor_fwd"] / bw,
                    "fwd_bwd": 1e3 * b["floor_fwd_bwd"] / bw,
                    "fwd_bwd_as_built": 1e3 * b["as_built_fwd_bwd"] / bw,
                    "fwd_bwd_ns_per_token": 1e9 * b["floor_fwd_bwd"] / bw / (batch * L),
                }
            rows.append(row)
    return rows


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
    from genomamba.kernels.launch_config import scan_config

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
            # Floor bytes (inputs read once, outputs written once): see scan_bytes.
            b = scan_bytes(args.batch, args.d, args.n, L, x["u"].element_size(),
                           scan_config(args.batch, args.d, args.n).chunk)
            fwd_bytes, fb_bytes = b["floor_fwd"], b["floor_fwd_bwd"]
            peak = args.peak_bw or H100_SXM_HBM_BYTES_PER_S
            rows.append({
                "backend": "triton", "dtype": str(dtype).removeprefix("torch."), "L": L,
                "fwd_ms": t_fwd * 1e3, "fwd_bwd_ms": t_fb * 1e3,
                "fwd_us_per_token": 1e6 * t_fwd / (args.batch * L),
                "fwd_bwd_us_per_token": 1e6 * t_fb / (args.batch * L),
                "fwd_GBps": fwd_bytes / t_fwd / 1e9,
                "fwd_bwd_GBps": fb_bytes / t_fb / 1e9,
                "peak_bw_Bps": peak,
                "fwd_frac_of_peak": fwd_bytes / t_fwd / peak,
                "fwd_bwd_frac_of_peak": fb_bytes / t_fb / peak,
                # Measured time over the bandwidth floor on this device (goal: <= 1.5 at L >= 4096).
                "fwd_bwd_time_over_floor": t_fb / (fb_bytes / peak),
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
    p.add_argument("--roofline-only", action="store_true",
                   help="print the computed HBM roofline for L 1k-64k and exit (nothing is timed)")
    p.add_argument("--peak-bw", type=float, default=None,
                   help="HBM bytes/s of the CUDA device for the fraction-of-peak figures (default: H100 SXM)")
    p.add_argument("--skip-cpu", action="store_true", help="with --device cuda: only the CUDA points")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", default="cpu", help=argparse.SUPPRESS)
    p.add_argument("--L", type=int, default=1024, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return
    shape = {"batch": args.batch, "d": args.d, "n": args.n, "D": True, "z": True}
    if args.roofline_only:
        _emit({"shape": shape, "roofline": roofline(args.batch, args.d, args.n, ROOFLINE_LENGTHS)}, args.out)
        return
    if args.skip_cpu:
        report = {"shape": shape, "roofline": roofline(args.batch, args.d, args.n, ROOFLINE_LENGTHS)}
        if args.device == "cuda":
            report["cuda"] = _bench_cuda(args)
        _emit(report, args.out)
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
    report["roofline"] = roofline(args.batch, args.d, args.n, ROOFLINE_LENGTHS)
    if args.device == "cuda":
        report["cuda"] = _bench_cuda(args)
    _emit(report, args.out)


def _emit(report: dict, out: str | None) -> None:
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        with open(out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
