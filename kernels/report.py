"""AOT resource report of the Triton selective-scan kernels, without a GPU.

Every kernel is compiled exactly as its launcher would launch it for a given shape and dtype:
the launcher's own argument assembly (``_prepare_fwd`` / ``_prepare_bwd`` of ``triton_scan``, the
first Triton implementation "v1", and of ``triton_scan_chunked``, "chunked") runs on
``meta`` tensors, triton's own binder turns those arguments into the signature, constexprs and
specialisation attributes it would use at launch, and ``triton.compile(ASTSource(...),
target=GPUTarget("cuda", 80 | 90, 32))`` builds the cubin with the ptxas in the triton wheel.
``cuobjdump --dump-resource-usage`` (also from the wheel) then gives registers, stack/local
bytes (spills) and static shared memory; triton's metadata gives the dynamic shared memory.

    python -m genomamba.kernels.report                                  # table, sm_80 and sm_90
    python -m genomamba.kernels.report --arch sm_90 --d-state 16 --json
    python -m genomamba.kernels.report --batch 1 2 --d-inner 256 2048   # grid sizes per shape
    python -m genomamba.kernels.report --impl chunked --sass             # + SASS instruction counts

Assumptions: tensors are freshly allocated (16-byte aligned, as the launcher's outputs and
contiguous copies are). Occupancy limits use the per-SM resources of the A100 (sm_80) and
H100 (sm_90). Must run without ``TRITON_INTERPRET=1`` (the CLI clears it before importing triton).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from genomamba.kernels.launch_config import SMS_BY_ARCH, chunked_scan_config, scan_config

from genomamba.errors import KernelInputError

# Per-SM limits (CUDA C Programming Guide, "Compute capabilities" table): registers, threads,
# resident blocks, shared memory per SM usable by blocks (bytes), register allocation unit.
SM_LIMITS = {
    80: {"regs": 65536, "threads": 2048, "blocks": 32, "smem": 164 * 1024, "reg_unit": 256},
    90: {"regs": 65536, "threads": 2048, "blocks": 32, "smem": 228 * 1024, "reg_unit": 256},
}
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
IMPLS = ("v1", "chunked")
# Flag sets: how GenomambaLM calls the scan (D skip, z gate; bias + softplus are applied in torch
# before the scan), and every option on (mamba_ssm's selective_scan_fn with all arguments).
FLAG_SETS = {
    "model": {"D": True, "z": True, "bias_softplus": False, "h0": False, "dlast": False},
    "full": {"D": True, "z": True, "bias_softplus": True, "h0": True, "dlast": True},
}


@dataclass
class KernelResources:
    impl: str
    kernel: str
    arch: str
    d_state: int
    dtype: str
    flags: str
    triton: str
    block_d: int
    block_n: int
    chunk: int
    num_warps: int
    num_stages: int | None
    registers: int
    stack_bytes: int
    local_bytes: int
    static_shared_bytes: int
    dynamic_shared_bytes: int
    blocks_per_sm: int
    occupancy_warps_pct: float
    occupancy_limited_by: str
    # SASS instruction counts (``--sass``): total, the exp2 / shuffle / barrier / atomic ones, and the
    # instructions of the innermost loop computing exp2, also per (step, channel, state) element.
    sass: dict[str, float | None] | None = None

    @property
    def spills(self) -> bool:
        # No recursion or dynamic stack in these kernels: any stack / local bytes are spills.
        return self.stack_bytes > 0 or self.local_bytes > 0


def _tools_dir() -> Path:
    import triton

    return Path(triton.__file__).parent / "backends" / "nvidia" / "bin"


def _occupancy(arch: int, regs: int, warps: int, shared: int) -> tuple[int, float, str]:
    lim = SM_LIMITS[arch]
    unit = lim["reg_unit"]
    regs_per_warp = -(-max(regs, 1) * 32 // unit) * unit
    by = {
        "registers": lim["regs"] // (regs_per_warp * warps),
        "threads": lim["threads"] // (32 * warps),
        "blocks": lim["blocks"],
        # 1 KiB per block is reserved by the driver on sm_80+.
        "shared_memory": lim["smem"] // (shared + 1024) if shared else lim["blocks"],
    }
    blocks = min(by.values())
    limiter = min(by, key=lambda k: (by[k], k != "registers"))
    return blocks, 100.0 * blocks * warps * 32 / lim["threads"], limiter


def _parse_resource_usage(text: str) -> dict[str, dict[str, int]]:
    """cuobjdump --dump-resource-usage -> {function: {"REG": .., "STACK": .., "SHARED": .., "LOCAL": ..}}."""
    out: dict[str, dict[str, int]] = {}
    name = None
    for line in text.splitlines():
        m = re.search(r"Function\s+([^\s:]+)\s*:", line)
        if m:
            name = m.group(1)
            continue
        if name and "REG:" in line:
            out[name] = {k: int(v) for k, v in re.findall(r"(REG|STACK|SHARED|LOCAL):(\d+)", line)}
            name = None
    return out


def _meta_inputs(batch: int, d: int, n: int, L: int, dtype_name: str, flags: dict[str, bool]) -> dict:
    """Scan inputs on the meta device in the dtypes the model passes (A, D, bias, h0 fp32)."""
    import torch

    dt = getattr(torch, DTYPES[dtype_name])
    meta = dict(device="meta")
    return {
        "u": torch.empty(batch, d, L, dtype=dt, **meta),
        "delta": torch.empty(batch, d, L, dtype=dt, **meta),
        "A": torch.empty(d, n, dtype=torch.float32, **meta),
        "B": torch.empty(batch, n, L, dtype=dt, **meta),
        "C": torch.empty(batch, n, L, dtype=dt, **meta),
        "D": torch.empty(d, dtype=torch.float32, **meta) if flags["D"] else None,
        "z": torch.empty(batch, d, L, dtype=dt, **meta) if flags["z"] else None,
        "delta_bias": torch.empty(d, dtype=torch.float32, **meta) if flags["bias_softplus"] else None,
        "initial_state": torch.empty(batch, d, n, dtype=torch.float32, **meta) if flags["h0"] else None,
    }


def launches(
    batch: int, d: int, n: int, L: int, dtype_name: str, flags: dict[str, bool], num_sms: int,
    overrides: dict[str, int] | None = None, impl: str = "v1",
):
    """The KernelLaunches the launchers of ``impl`` build for this call ({name: launch}), and the config.

    ``overrides``: the tile overrides a caller of ``selective_scan_triton`` (v1: chunk, block_d,
    num_warps) or ``selective_scan_chunked`` (also segments, safe_reverse) may pass. Chunked
    launches are named fwd, bwd and, where L is split, fwd_seg, bwd_seg (the first pass).
    """
    import torch

    x = _meta_inputs(batch, d, n, L, dtype_name, flags)
    dout = torch.empty_like(x["u"])
    args = (x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], x["z"], x["delta_bias"], flags["bias_softplus"])
    if impl == "v1":
        from genomamba.kernels import triton_scan as ts

        cfg = scan_config(batch, d, n, 1, num_sms=num_sms, **(overrides or {}))
        fwd, _, last, ckpt = ts._prepare_fwd(*args, x["initial_state"], True, cfg)
        dlast = torch.empty_like(last) if flags["dlast"] else None
        bwd, _ = ts._prepare_bwd(*args, ckpt, dout, dlast, cfg)
        return {"fwd": fwd, "bwd": bwd}, cfg
    if impl != "chunked":
        raise KernelInputError(f"kernel report: unknown implementation {impl!r}; choose one of {IMPLS}")
    from genomamba.kernels import triton_scan_chunked as tc

    cfg = chunked_scan_config(batch, d, n, 1, num_sms=num_sms, **(overrides or {}))
    fwd, _, ckpt = tc._prepare_fwd(*args, x["initial_state"], cfg)
    dlast = torch.empty_like(ckpt[-1]) if flags["dlast"] else None
    bwd, _ = tc._prepare_bwd(*args, ckpt, dout, dlast, cfg)
    out = {}
    for direction, group in (("fwd", fwd), ("bwd", bwd)):
        *first_pass, main = group
        out[direction] = main
        if first_pass:
            out[f"{direction}_seg"] = first_pass[0]
    return out, cfg


class _AlignedArg:
    """Stands in for a meta tensor in triton's binder: same dtype, a 16-byte aligned address."""

    def __init__(self, t) -> None:
        self.dtype = t.dtype

    def data_ptr(self) -> int:
        return 0


def compile_launch(launch, arch: int):
    """Compile one KernelLaunch for sm_<arch> the way triton's JIT would; returns the CompiledKernel."""
    import torch
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime import jit as triton_jit

    fn = launch.kernel
    if not isinstance(fn, triton_jit.JITFunction):
        raise KernelInputError(
            "kernel report: the kernels were built for the Triton interpreter (TRITON_INTERPRET=1); "
            "run the report in a process without TRITON_INTERPRET set."
        )
    target = GPUTarget("cuda", arch, 32)
    backend = make_backend(target)
    binder = triton_jit.create_function_from_signature(fn.signature, fn.params, backend)
    args = [_AlignedArg(a) if isinstance(a, torch.Tensor) else a for a in launch.args]
    kwargs = dict(launch.constexprs, **launch.options())
    bound_args, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound_args, specialization, options)
    src = ASTSource(fn, signature, constexprs, attrs)
    return triton.compile(src, target=target, options=options.__dict__)


def _cuobjdump(compiled, flag: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kernel.cubin"
        path.write_bytes(compiled.asm["cubin"])
        res = subprocess.run(
            [str(_tools_dir() / "cuobjdump"), flag, str(path)], capture_output=True, text=True, check=True,
        )
    return res.stdout


def kernel_resources(compiled, arch: int) -> dict[str, int]:
    """Registers, stack, local and static shared bytes of the compiled kernel (cuobjdump)."""
    text = _cuobjdump(compiled, "--dump-resource-usage")
    usage = _parse_resource_usage(text)
    if len(usage) != 1:
        raise RuntimeError(f"kernel report: expected one function in the cubin, cuobjdump said:\n{text}")
    return next(iter(usage.values()))


# SASS opcodes counted by --sass: special-function (exp2, log, rcp), shuffles, barriers, atomics /
# reductions to global memory, local-memory traffic (spills) and global loads / stores.
SASS_GROUPS = {"MUFU": "mufu", "SHFL": "shfl", "BAR": "bar", "RED": "red", "REDG": "red", "ATOM": "atom", "ATOMG": "atom", "LDL": "ldl",
               "STL": "stl", "LDG": "ldg", "STG": "stg", "STS": "sts", "LDS": "lds"}


_SASS_LINE = re.compile(r"\s*/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")


def innermost_exp_loop(text: str) -> int | None:
    """Instructions in the innermost SASS loop that computes exp2 (a backward branch whose body holds
    a MUFU): the chunked kernels' per-state loop, v1's per-chunk loop. None if there is none."""
    ins = [(int(m.group(1), 16), m.group(2), m.group(3)) for m in map(_SASS_LINE.match, text.splitlines()) if m]
    best = None
    for addr, op, rest in ins:
        target = re.search(r"0x([0-9a-f]+)", rest) if op.startswith("BRA") else None
        if target and int(target.group(1), 16) < addr:
            body = [o for a, o, _ in ins if int(target.group(1), 16) <= a <= addr]
            if any(o.startswith("MUFU") for o in body) and (best is None or len(body) < best):
                best = len(body)
    return best


def sass_counts(text: str) -> dict[str, int]:
    """Static SASS instruction counts (whole kernel, each instruction once) by opcode group."""
    counts = dict.fromkeys(["total", *SASS_GROUPS.values()], 0)
    for line in text.splitlines():
        m = re.match(r"\s*/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)", line)
        if not m:
            continue
        counts["total"] += 1
        group = SASS_GROUPS.get(m.group(1))
        if group:
            counts[group] += 1
    return counts


# (batch, d_inner) over the model range (d_inner 128: a d_model 64 model, small enough that every
# arch splits L in both passes): every distinct tile configuration the launchers pick there.
REPORT_SHAPES = tuple((b, d) for b in (1, 2) for d in (128, 256, 512, 1024, 2048))


def report_kernels(
    archs: list[int], d_states: list[int], dtypes: list[str], flag_sets: list[str],
    shapes: tuple[tuple[int, int], ...] = REPORT_SHAPES, L: int = 4096,
    overrides: dict[str, int] | None = None, impls: tuple[str, ...] = IMPLS, sass: bool = False,
) -> list[KernelResources]:
    """Compile every kernel of each implementation for every (arch, d_state, dtype, flag set) and
    every distinct launch the launchers build over ``shapes``; one row per compiled kernel."""

    rows = []
    for impl in impls:
        for arch in archs:
            for n in d_states:
                for dtype_name in dtypes:
                    for flag_name in flag_sets:
                        seen = set()
                        for kname, launch in (
                            item
                            for batch, d in shapes
                            for item in launches(batch, d, n, L, dtype_name, FLAG_SETS[flag_name],
                                                 SMS_BY_ARCH[arch], overrides, impl)[0].items()
                        ):
                            key = (kname, tuple(sorted(launch.constexprs.items())), launch.num_warps)
                            if key in seen:
                                continue
                            seen.add(key)
                            rows.append(_compile_row(impl, kname, launch, arch, n, dtype_name, flag_name, sass))
    return rows


def _compile_row(impl: str, kname: str, launch, arch: int, n: int, dtype_name: str, flag_name: str,
                 sass: bool) -> KernelResources:
    import triton

    compiled = compile_launch(launch, arch)
    usage = kernel_resources(compiled, arch)
    dyn = int(compiled.metadata.shared)
    blocks, occ, limiter = _occupancy(arch, usage["REG"], launch.num_warps, dyn + usage.get("SHARED", 0))
    sass_doc = None
    if sass:
        text = _cuobjdump(compiled, "-sass")
        sass_doc = sass_counts(text)
        loop = innermost_exp_loop(text)
        # Elements (step, channel, state) one thread handles per pass of that loop: chunked kernels
        # loop over the states (BLOCK_D x CHUNK tile); v1 does all states of a chunk at once.
        c = launch.constexprs
        per_pass = c["BLOCK_D"] * c["CHUNK"] * (1 if impl == "chunked" else c["BLOCK_N"]) / (32 * launch.num_warps)
        sass_doc["exp_loop"] = loop
        sass_doc["exp_loop_per_element"] = round(loop / per_pass, 1) if loop else None
    return KernelResources(
        impl=impl, kernel=kname, arch=f"sm_{arch}", d_state=n, dtype=dtype_name, flags=flag_name,
        triton=triton.__version__, block_d=launch.constexprs["BLOCK_D"],
        block_n=launch.constexprs["BLOCK_N"], chunk=launch.constexprs["CHUNK"],
        num_warps=launch.num_warps, num_stages=launch.num_stages, registers=usage["REG"],
        stack_bytes=usage.get("STACK", 0), local_bytes=usage.get("LOCAL", 0),
        static_shared_bytes=usage.get("SHARED", 0), dynamic_shared_bytes=dyn,
        blocks_per_sm=blocks, occupancy_warps_pct=round(occ, 1), occupancy_limited_by=limiter,
        sass=sass_doc,
    )


def grid_report(batches: list[int], d_inners: list[int], d_states: list[int], archs: list[int],
                impls: tuple[str, ...] = IMPLS, L: int = 4096) -> list[dict]:
    """Programs x warps of both directions per shape (from the launch configuration alone)."""
    rows = []
    for impl in impls:
        for arch in archs:
            sms = SMS_BY_ARCH[arch]
            for n in d_states:
                for batch in batches:
                    for d in d_inners:
                        if impl == "v1":
                            cfg = scan_config(batch, d, n, 1, num_sms=sms)
                            progs = cfg.programs(batch, d)
                        else:
                            cfg = chunked_scan_config(batch, d, n, 1, num_sms=sms)
                            progs = cfg.programs(batch, d, L)
                        rows.append({
                            "impl": impl, "arch": f"sm_{arch}", "sms": sms, "batch": batch, "d_inner": d,
                            "d_state": n, "L": L, "chunk": cfg.chunk,
                            "fwd_block_d": cfg.fwd_block_d, "fwd_programs": progs["fwd"], "fwd_warps": cfg.fwd_warps,
                            "bwd_block_d": cfg.bwd_block_d, "bwd_programs": progs["bwd"], "bwd_warps": cfg.bwd_warps,
                            "fills_sms": min(progs.values()) >= sms,
                        })
    return rows


def _arch(text: str) -> int:
    m = re.fullmatch(r"(?:sm_?)?(\d+)", text)
    if not m or int(m.group(1)) not in SM_LIMITS:
        raise argparse.ArgumentTypeError(f"unknown arch {text!r}; use one of {[f'sm_{a}' for a in SM_LIMITS]}")
    return int(m.group(1))


def _table(rows: list[dict], keys: list[str]) -> str:
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m genomamba.kernels.report", description=__doc__.splitlines()[0])
    p.add_argument("--arch", type=_arch, nargs="+", default=[80, 90], help="sm_80 and/or sm_90")
    p.add_argument("--d-state", type=int, nargs="+", default=[16, 4, 64])
    p.add_argument("--dtype", choices=sorted(DTYPES), nargs="+", default=["fp32", "bf16"])
    p.add_argument("--flags", choices=sorted(FLAG_SETS), nargs="+", default=["model", "full"],
                   help="model: as GenomambaLM calls the scan; full: every optional input")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 2])
    p.add_argument("--d-inner", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--no-compile", action="store_true", help="grid sizes only (no triton compile)")
    p.add_argument("--impl", choices=IMPLS, nargs="+", default=list(IMPLS),
                   help="v1: the first Triton kernels (triton_scan); chunked: triton_scan_chunked")
    p.add_argument("--chunk", type=int, help="override CHUNK (as selective_scan_triton(chunk=...))")
    p.add_argument("--block-d", type=int, help="override BLOCK_D (as selective_scan_triton(block_d=...))")
    p.add_argument("--num-warps", type=int, help="override num_warps (exploration only)")
    p.add_argument("--segments", type=int, help="chunked: force this many L segments (exploration only)")
    p.add_argument("--sass", action="store_true", help="also count SASS instructions (exp2, shuffles, ...)")
    args = p.parse_args(argv)

    os.environ.pop("TRITON_INTERPRET", None)  # before triton.language is imported
    import triton

    grids = grid_report(args.batch, args.d_inner, args.d_state, args.arch, tuple(args.impl))
    overrides = {k: v for k, v in (("chunk", args.chunk), ("block_d", args.block_d), ("num_warps", args.num_warps),
                                   ("segments", args.segments)) if v is not None}
    if "segments" in overrides and args.impl != ["chunked"]:
        p.error("--segments applies to --impl chunked only")
    rows = [] if args.no_compile else report_kernels(
        args.arch, args.d_state, args.dtype, args.flags, overrides=overrides, impls=tuple(args.impl), sass=args.sass,
    )
    doc = {
        "triton": triton.__version__,
        "python": sys.version.split()[0],
        "kernels": [dict(asdict(r), spills=r.spills) for r in rows],
        "grids": grids,
        "spill_free": all(not r.spills for r in rows),
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        if rows:
            keys = ["impl", "kernel", "arch", "d_state", "dtype", "flags", "block_d", "chunk", "num_warps",
                    "registers", "stack_bytes", "local_bytes", "dynamic_shared_bytes", "blocks_per_sm",
                    "occupancy_warps_pct", "occupancy_limited_by"]
            table = [asdict(r) for r in rows]
            if args.sass:
                keys += ["sass_total", "mufu", "shfl", "bar", "red", "exp_loop", "exp_loop_per_element"]
                for r in table:
                    r.update({("sass_total" if k == "total" else k): v for k, v in r.pop("sass").items()})
            print(f"triton {triton.__version__}: kernel resources (launches built for (batch, d_inner) in "
                  f"{list(REPORT_SHAPES)}, L 4096{', overrides ' + str(overrides) if overrides else ''})")
            print(_table(table, keys))
            print()
        print("grid per shape (programs x warps, L 4096)")
        print(_table(grids, list(grids[0])))
    return 0 if doc["spill_free"] else 1


if __name__ == "__main__":
    sys.exit(main())
