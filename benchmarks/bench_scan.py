"""Benchmark the selective scan: numba CPU path vs the per-step PyTorch reference, and on CUDA
the two Triton implementations side by side (v1 ``triton_scan`` and ``triton_scan_chunked``).

Prints one JSON document.

    python benchmarks/bench_scan.py                         # CPU: batch 2, d 256, n 16, L 1024/4096/16384
    python benchmarks/bench_scan.py --device cuda --skip-cpu   # Triton v1 vs chunked, fwd and bwd apart
    python benchmarks/bench_scan.py --device cuda --skip-cpu --sweep   # + chunked tile alternatives
    python benchmarks/bench_scan.py --roofline-only         # computed floors, L 1k-64k (no timing)

CPU: every (backend, L) point runs in its own subprocess so that the peak resident memory
(``resource.getrusage``, minus the RSS after inputs are built and the kernels are warmed up)
belongs to that point alone.

CUDA (``--device cuda``): at batch 2 x d_inner 256 (genomamba's models) and batch 1 x d_inner 2,048
(the Mamba paper's width), d_state 16, D and z as the model passes them, delta_bias + softplus, fp32
and bf16 inputs, L 1k to 1M: the forward (no_grad, as inference runs it), the training forward
(grad enabled: the backward's checkpoints are stored) and the backward alone
(``torch.autograd.grad`` on a retained graph), each timed with CUDA events (median), for each
implementation in turn (``GENOMAMBA_TRITON_SCAN``). Points that would not fit in device memory are
skipped and say so. Each time is compared with its floors:

* HBM floor = bytes / peak bandwidth, bytes counted, not measured (``scan_bytes``): the forward
  reads u, delta, z, B, C once and writes out once; the backward reads u, delta, z, B, C and dout
  once and writes du, ddelta, dz, dB, dC once, all in the input dtype (A, D and their gradients are
  negligible). Anything a kernel moves beyond that (checkpoints, fp32 gradients, re-reads) is its own.
* Instruction-issue floor = N * I / (128 * SMs * clock), N = batch * d_inner * L * d_state
  (step, channel, state) elements and 128 the fp32 instructions an SM issues per clock (4
  schedulers x 32 lanes). I counts the instructions per element that a scan with 16 contiguous steps
  per thread (mamba_ssm's CUDA layout, scan overhead amortised) cannot avoid: forward I = 9
  (delta*A, exp2, B*(delta u), 2 for the scan's combine, 2 to apply the carried prefix, C*h, and
  ~1 of warp-scan overhead); backward I = 23 (the forward's 7 to recompute h, C*dy, 4 for the
  reverse scan, lam*(delta u) and its reduction for dB, h*dy and its reduction for dC, lam*B for du,
  2 for lam*(h - x), A*q for ddelta, q*delta for dA, ~2 of scan overhead).
* Special-function floor = N * E / (16 * SMs * clock): E exp2 per element (1 forward, 1 backward:
  a_{t+1} is a shift of a_t), 16 results per SM per clock (sm_80 / sm_90).
* floor = the largest of the three; ``x_floor`` = measured / floor, ``x_hbm`` = measured / HBM floor.

Peak bandwidth and clock come from the device's name (data sheet values, ``--peak-bw`` to override).
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
CUDA_LENGTHS = [1024, 4096, 16384, 65536, 262144, 1048576]
CUDA_SHAPES = [(2, 256), (1, 2048)]  # (batch, d_inner)
IMPLS = ("v1", "chunked")
# Instructions per (step, channel, state) that a scan cannot avoid, and exp2 per element (docstring).
MIN_INSTR = {"fwd": 9, "bwd": 23}
MIN_EXP2 = {"fwd": 1, "bwd": 1}
ISSUE_PER_SM_PER_CLOCK = 128
SFU_PER_SM_PER_CLOCK = 16
# (name fragment, HBM bytes/s, boost clock Hz, SMs): data sheets; first match wins.
DEVICES = [
    ("H200", 4.8e12, 1.98e9, 132),
    ("H100 NVL", 3.9e12, 1.785e9, 132),
    ("H100 PCIe", 2.0e12, 1.755e9, 114),
    ("H100", 3.35e12, 1.98e9, 132),
    ("A100-SXM4-80GB", 2.039e12, 1.41e9, 108),
    ("A100", 2.0e12, 1.41e9, 108),
]


def device_figures(name: str) -> dict | None:
    """HBM bandwidth, clock and SMs of a device by its name (data sheets), or None."""
    for frag, bw, clock, sms in DEVICES:
        if frag.lower() in name.lower():
            return {"hbm_bytes_per_s": bw, "clock_hz": clock, "sms": sms}
    return None


def scan_bytes(batch: int, d: int, n: int, L: int, elem_bytes: int, chunk: int) -> dict[str, int]:
    """HBM bytes of one selective scan (D skip and z gate, as the model calls it).

    ``floor_*``: inputs read once and outputs written once in the input dtype. ``as_built_*``:
    plus the v1 Triton kernels' chunk-start checkpoints (fp32, n per channel per chunk), fp32
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


def floors(batch: int, d: int, n: int, L: int, elem_bytes: int, dev: dict) -> dict[str, dict[str, float]]:
    """Floor times in ms per direction (fwd, bwd, fwd_bwd): hbm, issue, sfu and their max (docstring)."""
    b = scan_bytes(batch, d, n, L, elem_bytes, chunk=1 << 30)
    elems = batch * d * L * n
    issue_rate = ISSUE_PER_SM_PER_CLOCK * dev["sms"] * dev["clock_hz"]
    sfu_rate = SFU_PER_SM_PER_CLOCK * dev["sms"] * dev["clock_hz"]
    out = {}
    for k in ("fwd", "bwd"):
        f = {
            "hbm": 1e3 * b[f"floor_{k}"] / dev["hbm_bytes_per_s"],
            "issue": 1e3 * elems * MIN_INSTR[k] / issue_rate,
            "sfu": 1e3 * elems * MIN_EXP2[k] / sfu_rate,
        }
        f["floor"] = max(f.values())
        out[k] = f
    out["fwd_bwd"] = {key: out["fwd"][key] + out["bwd"][key] for key in ("hbm", "issue", "sfu")}
    out["fwd_bwd"]["floor"] = out["fwd"]["floor"] + out["bwd"]["floor"]
    return out


def roofline(batch: int, d: int, n: int, lengths: list[int]) -> list[dict]:
    """Bytes and predicted time at HBM peak per (dtype, L), with the CHUNK v1's launcher picks."""
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
            row["floors_ms_h100_sxm"] = floors(batch, d, n, L, elem, device_figures("H100"))
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


def _cuda_time_ms(fn, min_ms: float = 50.0, max_reps: int = 20) -> float:
    """Median of CUDA-event timings of ``fn``: a first timed call sets how many repeats fit ``min_ms``."""
    import statistics as st

    import torch

    def once() -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    first = once()
    reps = max(2, min(max_reps, int(min_ms / max(first, 1e-3))))
    return st.median([once() for _ in range(reps)])


def _make_cuda(batch: int, d: int, n: int, L: int, dtype, device: str = "cuda") -> tuple[dict, list]:
    """Scan inputs drawn on the device (host randn of 1M x 2048 would take longer than the timing),
    u / delta / z / B / C in ``dtype``, A / D / delta_bias fp32; all leaves requiring grad."""
    import torch

    g = torch.Generator(device=device).manual_seed(0)

    def rnd(*shape: int, scale: float = 1.0, dt=dtype):
        return (torch.randn(*shape, device=device, generator=g, dtype=torch.float32) * scale).to(dt)

    x = {
        "u": rnd(batch, d, L), "delta": rnd(batch, d, L, scale=0.5),
        "A": -(torch.rand(d, n, device=device, generator=g) + 0.2),
        "B": rnd(batch, n, L), "C": rnd(batch, n, L), "D": rnd(d, dt=torch.float32), "z": rnd(batch, d, L),
        "delta_bias": rnd(d, scale=0.5, dt=torch.float32),
    }
    for v in x.values():
        v.requires_grad_()
    return x, list(x.values())


def _cuda_bytes_needed(batch: int, d: int, n: int, L: int, elem: int) -> int:
    """Device memory of one (fwd, bwd) point: inputs, out, dout, gradients (v1 keeps fp32 ones and
    casts), B / C and their fp32 gradients; with margin."""
    act = batch * d * L
    return int(1.3 * (act * elem * 8 + act * 4 * 3 + batch * n * L * (2 * elem + 2 * 4)))


def _bench_point(x: dict, leaves: list, grad, impl: str, overrides: dict | None = None) -> dict:
    """fwd (no_grad), fwd_train (grad enabled) and bwd (autograd.grad on a retained graph) in ms."""
    import torch
    from genomamba.kernels import selective_scan
    from genomamba.kernels.dispatch import TRITON_SCAN_ENV

    os.environ[TRITON_SCAN_ENV] = impl
    if overrides:
        from genomamba.kernels.triton_scan_chunked import selective_scan_chunked

        def call(**kw):
            return selective_scan_chunked(**kw, delta_softplus=True, **overrides)
    else:
        def call(**kw):
            return selective_scan(**kw, delta_softplus=True)

    def fwd():
        with torch.no_grad():
            call(**x)

    def fwd_train():
        call(**x)

    out = call(**x)  # compile and warm up (first call of each kernel at this specialisation)
    torch.autograd.grad(out, leaves, grad, retain_graph=False)
    fwd()
    out = call(**x)

    def bwd():
        torch.autograd.grad(out, leaves, grad, retain_graph=True)

    bwd()
    return {"fwd_ms": _cuda_time_ms(fwd), "fwd_train_ms": _cuda_time_ms(fwd_train), "bwd_ms": _cuda_time_ms(bwd)}


def _with_floors(row: dict, batch: int, d: int, n: int, L: int, elem: int, dev: dict) -> dict:
    fl = floors(batch, d, n, L, elem, dev)
    row["floors_ms"] = fl
    t = {"fwd": row["fwd_ms"], "bwd": row["bwd_ms"], "fwd_bwd": row["fwd_train_ms"] + row["bwd_ms"]}
    row["fwd_bwd_ms"] = t["fwd_bwd"]
    for k, v in t.items():
        row[f"{k}_x_floor"] = v / fl[k]["floor"]
        row[f"{k}_x_hbm"] = v / fl[k]["hbm"]
    row["fwd_bwd_ns_per_token"] = 1e6 * t["fwd_bwd"] / (batch * L)
    return row


def _bench_cuda(args: argparse.Namespace) -> dict:
    import torch

    name = torch.cuda.get_device_name(0)
    dev = device_figures(name) or {"hbm_bytes_per_s": H100_SXM_HBM_BYTES_PER_S, "clock_hz": 1.98e9,
                                   "sms": torch.cuda.get_device_properties(0).multi_processor_count}
    dev = dict(dev, sms=torch.cuda.get_device_properties(0).multi_processor_count)
    if args.peak_bw:
        dev["hbm_bytes_per_s"] = args.peak_bw
    deadline = time.monotonic() + args.time_budget_s if args.time_budget_s else None
    rows, skipped = [], []
    report = {"device": name, "device_figures": dev, "rows": rows, "skipped": skipped}
    for batch, d, dtype, L in _cuda_points(args.shapes, (torch.float32, torch.bfloat16), args.lengths):
        elem = torch.empty(0, dtype=dtype).element_size()
        point = {"batch": batch, "d": d, "n": args.n, "dtype": str(dtype).removeprefix("torch."), "L": L}
        free, _ = torch.cuda.mem_get_info()
        need = _cuda_bytes_needed(batch, d, args.n, L, elem)
        if need > 0.9 * free:
            skipped.append(dict(point, reason=f"needs ~{need / 2**30:.0f} GiB, {free / 2**30:.0f} GiB free"))
            continue
        if deadline is not None and time.monotonic() > deadline:
            skipped.append(dict(point, reason="time budget spent"))
            continue
        x, leaves = _make_cuda(batch, d, args.n, L, dtype)
        grad = torch.randn(batch, d, L, device="cuda", dtype=dtype)
        for impl in args.impls:
            try:
                row = dict(point, impl=impl, **_bench_point(x, leaves, grad, impl))
            except torch.cuda.OutOfMemoryError as e:
                skipped.append(dict(point, impl=impl, reason=f"out of memory: {str(e).splitlines()[0]}"))
                torch.cuda.empty_cache()
                continue
            rows.append(_with_floors(row, batch, d, args.n, L, elem, dev))
            print(f"[bench_scan] {impl} b{batch} d{d} {point['dtype']} L={L}: fwd {row['fwd_ms']:.3f} "
                  f"bwd {row['bwd_ms']:.3f} ms, fwd+bwd {row['fwd_bwd_x_floor']:.1f}x floor", file=sys.stderr)
        del x, leaves, grad
        torch.cuda.empty_cache()
        report["speedup"] = _speedups(rows)
        if args.out:  # what is measured so far survives a run stopped from outside
            _emit({"cuda": report, "partial": True}, args.out, quiet=True)
    report["speedup"] = _speedups(rows)
    if args.sweep:
        report["sweep"] = _sweep(args, dev, deadline)
    return report


# The issue's table first (batch 2 x d 256 at 4k-64k), then the other lengths, then the other shapes.
PRIORITY_LENGTHS = (4096, 16384, 65536)


def _cuda_points(shapes, dtypes, lengths) -> list[tuple]:
    """(batch, d, dtype, L) in the order they are measured (most wanted first, for a time budget)."""
    first = [L for L in PRIORITY_LENGTHS if L in lengths]
    rest = [L for L in lengths if L not in first]
    points = []
    for i, (batch, d) in enumerate(shapes):
        order = [first, rest] if i == 0 else [first + rest]
        for group in order:
            for dtype in dtypes:
                points += [(batch, d, dtype, L) for L in group]
    return points


def _speedups(rows: list[dict]) -> list[dict]:
    """chunked over v1 time ratios per (shape, dtype, L) where both ran."""
    by = {}
    for r in rows:
        by.setdefault((r["batch"], r["d"], r["dtype"], r["L"]), {})[r["impl"]] = r
    out = []
    for (batch, d, dtype, L), pair in sorted(by.items()):
        if "v1" in pair and "chunked" in pair:
            out.append({"batch": batch, "d": d, "dtype": dtype, "L": L, **{
                f"{k}_v1_over_chunked": pair["v1"][f"{k}_ms"] / pair["chunked"][f"{k}_ms"]
                for k in ("fwd", "bwd", "fwd_bwd")}})
    return out


# Chunked tile alternatives timed by --sweep (chunk, fwd block_d, fwd warps, bwd block_d, bwd warps,
# extra): the default first; then longer chunks, one channel per program, more warps, no L split,
# the plain reverse combine.
SWEEP = [
    {},
    {"bwd_warps": 4},  # E 8: fewer instructions, spills with triton 3.6 on sm_80
    {"bwd_block_d": 1, "bwd_warps": 4},  # one channel per backward program
    {"chunk": 1024, "fwd_warps": 4, "bwd_block_d": 1, "bwd_warps": 8},
    {"chunk": 2048, "block_d": 1, "fwd_warps": 4, "bwd_warps": 16},
    {"fwd_block_d": 4, "fwd_warps": 4, "bwd_block_d": 4, "bwd_warps": 16},
    {"segments": 1},
    {"safe_reverse": False},
]


def _sweep(args: argparse.Namespace, dev: dict, deadline: float | None) -> list[dict]:
    import torch

    batch, d = args.shapes[0]
    L = args.sweep_length
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        elem = torch.empty(0, dtype=dtype).element_size()
        x, leaves = _make_cuda(batch, d, args.n, L, dtype)
        grad = torch.randn(batch, d, L, device="cuda", dtype=dtype)
        for overrides in SWEEP:
            point = {"batch": batch, "d": d, "n": args.n, "dtype": str(dtype).removeprefix("torch."), "L": L,
                     "overrides": overrides}
            if deadline is not None and time.monotonic() > deadline:
                rows.append(dict(point, skipped="time budget spent"))
                continue
            row = dict(point, **_bench_point(x, leaves, grad, "chunked", overrides or {"segments": None}))
            rows.append(_with_floors(row, batch, d, args.n, L, elem, dev))
    return rows


def check_plain_reverse(lengths: tuple[int, ...] = (700, 3001), device: str = "cuda",
                        shape: tuple[int, int, int] = (2, 64, 16), **overrides) -> list[dict]:
    """The chunked backward with the plain reverse-scan combine (``safe_reverse=False``, cheaper)
    against the position-ordered default and the reference on this GPU: does this compiler pass
    reverse-scan operands in the order the interpreter does (triton-lang/triton#4362)? Max relative
    error of every gradient; ``matches`` at the fp32 / bf16 test tolerances."""
    import torch
    from genomamba.kernels import selective_scan_ref
    from genomamba.kernels.triton_scan_chunked import selective_scan_chunked

    rows = []
    for dtype, tol in ((torch.float32, 6e-4), (torch.bfloat16, 5e-2)):
        for L in lengths:
            batch, d, n = shape
            x, leaves = _make_cuda(batch, d, n, L, dtype, device)
            g = torch.randn(batch, d, L, device=device, dtype=dtype)
            ref_x = {k: v.detach().float().requires_grad_() for k, v in x.items()}
            ref = torch.autograd.grad(selective_scan_ref(**ref_x, delta_softplus=True), list(ref_x.values()), g.float())
            row = {"dtype": str(dtype).removeprefix("torch."), "L": L}
            for safe in (True, False):
                out = selective_scan_chunked(**x, delta_softplus=True, safe_reverse=safe, **overrides)
                got = torch.autograd.grad(out, leaves, g)
                err = max(((a.float() - b).abs().max() / b.abs().max().clamp_min(1e-6)).item()
                          for a, b in zip(got, ref, strict=True))
                row["position_ordered" if safe else "plain"] = {"max_rel_grad_err": err, "matches": err <= tol}
            rows.append(row)
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
                   help="HBM bytes/s of the CUDA device (default: by its name, else H100 SXM)")
    p.add_argument("--skip-cpu", action="store_true", help="with --device cuda: only the CUDA points")
    p.add_argument("--cuda-lengths", type=int, nargs="+", default=CUDA_LENGTHS, help="CUDA: sequence lengths")
    p.add_argument("--shapes", type=_shape, nargs="+", default=CUDA_SHAPES,
                   help="CUDA: BATCHxD_INNER shapes (default 2x256 1x2048)")
    p.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS), help="CUDA: Triton implementations")
    p.add_argument("--sweep", action="store_true", help="CUDA: also time chunked tile alternatives (SWEEP)")
    p.add_argument("--sweep-length", type=int, default=16384)
    p.add_argument("--check-plain-reverse", action="store_true",
                   help="CUDA: check the chunked backward's plain reverse-scan combine against the reference")
    p.add_argument("--time-budget-s", type=float, default=None,
                   help="CUDA: skip the remaining points (recorded as skipped) once this many seconds are spent")
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
    if args.device == "cuda":
        args.lengths_cpu, args.lengths = args.lengths, args.cuda_lengths
    if args.skip_cpu:
        report = {"shape": shape, "roofline": roofline(args.batch, args.d, args.n, ROOFLINE_LENGTHS)}
        if args.device == "cuda":
            if args.check_plain_reverse:
                report["plain_reverse_check"] = check_plain_reverse()
            report["cuda"] = _bench_cuda(args)
        _emit(report, args.out)
        return
    if args.device == "cuda":
        args.lengths = args.lengths_cpu

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
        args.lengths = args.cuda_lengths
        report["cuda"] = _bench_cuda(args)
    _emit(report, args.out)


def _shape(text: str) -> tuple[int, int]:
    batch, _, d = text.lower().partition("x")
    if not (batch.isdigit() and d.isdigit()):
        raise argparse.ArgumentTypeError(f"shape {text!r}: expected BATCHxD_INNER, e.g. 2x256")
    return int(batch), int(d)


def _emit(report: dict, out: str | None, quiet: bool = False) -> None:
    text = json.dumps(report, indent=2)
    if not quiet:
        print(text)
    if out:
        tmp = f"{out}.tmp"
        with open(tmp, "w") as fh:
            fh.write(text + "\n")
        os.replace(tmp, out)


if __name__ == "__main__":
    main()
