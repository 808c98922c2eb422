"""GPU readiness without a GPU: the Triton scan kernels (both implementations, v1 and chunked)
compile for sm_80 / sm_90 without spills, the grid fills an H100, and the report compiles what the
launchers launch.

The compile test runs ``python -m genomamba.kernels.report`` in subprocesses (one per arch and
implementation, in parallel) without TRITON_INTERPRET, using the ptxas / cuobjdump shipped in the
triton wheel. The chunked kernels loop over the states at run time, so d_state changes only the
width of their small per-state tiles: CI compiles them at d_state 16 (the report's default covers
4, 16 and 64). The same check against triton 3.6 (the GPU image's version) is ``make triton36-report``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from genomamba.kernels.launch_config import (
    CHUNKED_TARGET_WARPS_PER_SM,
    H100_SMS,
    SMS_BY_ARCH,
    chunked_scan_config,
    scan_config,
)
from genomamba.kernels.report import FLAG_SETS, _occupancy, _parse_resource_usage, launches, sass_counts

D_STATES = (16, 4, 64)
CHUNKED_D_STATES = (16,)
CHUNKED_KERNELS = ("fwd", "bwd", "fwd_seg", "bwd_seg")


def _run_reports(archs: list[str], flags: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "genomamba.kernels.report", "--json", "--arch", arch, "--flags", flags,
             "--impl", impl, "--d-state", *map(str, d_states), "--dtype", "fp32", "bf16"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for arch in archs
        for impl, d_states in (("v1", D_STATES), ("chunked", CHUNKED_D_STATES))
    ]
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode in (0, 1), f"report failed:\n{err[-3000:]}"
        docs.append(json.loads(out))
    return docs


def test_kernels_compile_for_sm80_and_sm90_without_spills() -> None:
    docs = _run_reports(["sm_80", "sm_90"], "model")
    rows = [r for doc in docs for r in doc["kernels"]]
    covered = {(r["impl"], r["kernel"], r["arch"], r["d_state"], r["dtype"]) for r in rows}
    expected = {("v1", k, a, n, t) for k in ("fwd", "bwd") for a in ("sm_80", "sm_90") for n in D_STATES
                for t in ("fp32", "bf16")}
    expected |= {("chunked", k, a, n, t) for k in CHUNKED_KERNELS for a in ("sm_80", "sm_90")
                 for n in CHUNKED_D_STATES for t in ("fp32", "bf16")}
    assert covered == expected
    spilled = [r for r in rows if r["spills"]]
    assert not spilled, "spilling kernels:\n" + "\n".join(
        f"{r['impl']} {r['kernel']} {r['arch']} n={r['d_state']} {r['dtype']} BLOCK_D={r['block_d']} CHUNK={r['chunk']}"
        f" warps={r['num_warps']}: {r['registers']} regs, stack {r['stack_bytes']} B, local {r['local_bytes']} B"
        for r in spilled
    )
    assert all(0 < r["registers"] <= 255 and r["blocks_per_sm"] >= 1 for r in rows)
    assert all(doc["spill_free"] for doc in docs)


@pytest.mark.parametrize("n", D_STATES)
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("d", [256, 512, 1024, 2048])
def test_grid_offers_a_program_per_sm(batch: int, d: int, n: int) -> None:
    for arch, sms in SMS_BY_ARCH.items():
        cfg = scan_config(batch, d, n, num_sms=sms)
        progs = cfg.programs(batch, d)
        assert min(progs.values()) >= sms, (arch, cfg, progs)
    # Tiles never exceed the register budget the compile test checks.
    cfg = scan_config(batch, d, n, num_sms=H100_SMS)
    for bd, warps, budget in ((cfg.fwd_block_d, cfg.fwd_warps, 8), (cfg.bwd_block_d, cfg.bwd_warps, 4)):
        assert bd * cfg.block_n * cfg.chunk <= budget * 32 * warps


@pytest.mark.parametrize("n", D_STATES)
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("d", [256, 512, 1024, 2048])
def test_chunked_grid_reaches_the_warp_target(batch: int, d: int, n: int) -> None:
    # At L 64k there are chunks enough to split L until every SM has CHUNKED_TARGET_WARPS_PER_SM warps.
    for sms in SMS_BY_ARCH.values():
        cfg = chunked_scan_config(batch, d, n, num_sms=sms)
        progs = cfg.programs(batch, d, 65536)
        assert progs["fwd"] * cfg.fwd_warps >= CHUNKED_TARGET_WARPS_PER_SM * sms, (cfg, progs)
        assert progs["bwd"] * cfg.bwd_warps >= CHUNKED_TARGET_WARPS_PER_SM * sms, (cfg, progs)
    # Tiles stay inside the per-thread budgets the compile test checks spill-free.
    cfg = chunked_scan_config(batch, d, n)
    assert cfg.fwd_block_d * cfg.chunk <= 16 * 32 * cfg.fwd_warps
    assert cfg.bwd_block_d * cfg.chunk <= 4 * 32 * cfg.bwd_warps


def test_chunked_split_is_bounded_by_chunks_and_forced_splits_are_kept() -> None:
    cfg = chunked_scan_config(1, 64, 16, num_sms=132)
    assert cfg.split_fwd(1, 64, 3) == (3, 1)  # wants many segments, has 3 chunks
    assert cfg.split_fwd(1, 64, 1) == (1, 1)
    forced = chunked_scan_config(1, 64, 16, segments=4)
    assert forced.split_bwd(1, 64, 10) == (4, 3) and forced.split_bwd(1, 64, 2) == (2, 1)
    big = chunked_scan_config(8, 4096, 16, num_sms=132)
    assert big.split_fwd(8, 4096, 100) == (1, 100)  # 16k programs: no split
    grouped = chunked_scan_config(1, 24, 4, groups=4, block_d=4)
    assert grouped.fwd_block_d == grouped.bwd_block_d == 2  # 6 channels per group


def test_block_stays_inside_a_group() -> None:
    # 6 channels per group: a block of 4 would straddle groups; the largest power of two dividing 6 is 2.
    cfg = scan_config(1, 24, 4, groups=4, num_sms=1)
    assert cfg.fwd_block_d == cfg.bwd_block_d == 2
    cfg = scan_config(1, 24, 4, groups=4, num_sms=1, block_d=4)
    assert cfg.fwd_block_d == 2


def test_report_compiles_what_the_launchers_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture the launches selective_scan_triton makes (kernels not run) and compare with the report's."""
    from genomamba.kernels import triton_scan

    seen = []
    monkeypatch.setattr(triton_scan.KernelLaunch, "run", lambda self, device: seen.append(self))
    batch, d, n, L = 1, 256, 16, 100
    g = torch.Generator().manual_seed(0)
    x = {
        "u": torch.randn(batch, d, L, generator=g), "delta": torch.randn(batch, d, L, generator=g),
        "A": -torch.rand(d, n, generator=g), "B": torch.randn(batch, n, L, generator=g),
        "C": torch.randn(batch, n, L, generator=g), "D": torch.randn(d, generator=g),
        "z": torch.randn(batch, d, L, generator=g),
    }
    for v in x.values():
        v.requires_grad_()
    out = triton_scan.selective_scan_triton(**x)
    out.backward(torch.ones_like(out))
    expected, _ = launches(batch, d, n, L, "fp32", FLAG_SETS["model"], num_sms=H100_SMS)
    assert [s.kernel for s in seen] == [expected["fwd"].kernel, expected["bwd"].kernel]
    for got, exp in zip(seen, (expected["fwd"], expected["bwd"]), strict=True):
        assert got.grid == exp.grid and got.num_warps == exp.num_warps
        assert got.constexprs == exp.constexprs
        assert [a.dtype if isinstance(a, torch.Tensor) else a for a in got.args] == [
            a.dtype if isinstance(a, torch.Tensor) else a for a in exp.args
        ]


def test_report_compiles_what_the_chunked_launchers_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    from genomamba.kernels import triton_scan, triton_scan_chunked

    seen = []
    monkeypatch.setattr(triton_scan.KernelLaunch, "run", lambda self, device: seen.append(self))
    batch, d, n, L = 1, 256, 16, 4096  # 1 x 256 channels: L is split, the segment kernels run too
    g = torch.Generator().manual_seed(0)
    x = {
        "u": torch.randn(batch, d, L, generator=g), "delta": torch.randn(batch, d, L, generator=g),
        "A": -torch.rand(d, n, generator=g), "B": torch.randn(batch, n, L, generator=g),
        "C": torch.randn(batch, n, L, generator=g), "D": torch.randn(d, generator=g),
        "z": torch.randn(batch, d, L, generator=g),
    }
    for v in x.values():
        v.requires_grad_()
    out = triton_scan_chunked.selective_scan_chunked(**x)
    out.backward(torch.ones_like(out))
    expected, _ = launches(batch, d, n, L, "fp32", FLAG_SETS["model"], num_sms=H100_SMS, impl="chunked")
    order = [expected[k] for k in ("fwd_seg", "fwd", "bwd_seg", "bwd")]
    assert [s.kernel for s in seen] == [e.kernel for e in order]
    for got, exp in zip(seen, order, strict=True):
        assert got.grid == exp.grid and got.num_warps == exp.num_warps and got.num_stages == exp.num_stages
        assert got.constexprs == exp.constexprs
        assert [a.dtype if isinstance(a, torch.Tensor) else a for a in got.args] == [
            a.dtype if isinstance(a, torch.Tensor) else a for a in exp.args
        ]


def test_sass_counts() -> None:
    text = (
        "        /*0100*/                   MUFU.EX2 R4, R4 ;\n"
        "        /*0110*/              @!P0 SHFL.UP PT, R5, R3, 0x1, RZ ;\n"
        "        /*0120*/                   REDG.E.ADD.F32.FTZ.RN.STRONG.GPU desc[UR4][R2.64], R7 ;\n"
        "        /*0130*/                   BAR.SYNC.DEFER_BLOCKING 0x0 ;\n"
        "        /*0140*/                   FFMA R1, R2, R3, R4 ;\n"
    )
    c = sass_counts(text)
    assert (c["total"], c["mufu"], c["shfl"], c["red"], c["bar"]) == (5, 1, 1, 1, 1)


def test_resource_parser_and_occupancy() -> None:
    text = (
        "Resource usage:\n Common:\n  GLOBAL:0\n Function _selective_scan_bwd_kernel:\n"
        "  REG:255 STACK:312 SHARED:0 LOCAL:0 CONSTANT[0]:536 TEXTURE:0 SURFACE:0 SAMPLER:0\n"
    )
    assert _parse_resource_usage(text) == {
        "_selective_scan_bwd_kernel": {"REG": 255, "STACK": 312, "SHARED": 0, "LOCAL": 0}
    }
    # 255 regs -> 256 per thread, 8192 per warp, 4 warps -> 2 blocks by registers (16 by threads).
    assert _occupancy(90, 255, 4, 1024) == (2, 12.5, "registers")
    # 200 KiB of shared memory: one block fits sm_90's 228 KiB, none fits sm_80's 164 KiB.
    assert _occupancy(90, 32, 4, 200 * 1024)[::2] == (1, "shared_memory")
    assert _occupancy(80, 32, 4, 200 * 1024)[::2] == (0, "shared_memory")
