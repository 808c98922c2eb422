"""Triton selective scan: launchers and the autograd Function over the kernels of ``triton_scan_kernels``.

This module (and the kernels') imports triton at top level; only the dispatch imports it,
lazily, so that ``import genomamba.kernels`` never needs triton. On CPU tensors it runs under
the Triton interpreter (``TRITON_INTERPRET=1`` set before triton is first imported).

Layers (mamba_ssm ``ops/`` style):
    ``_selective_scan_fwd_kernel`` / ``_selective_scan_bwd_kernel``  @triton.jit (``triton_scan_kernels``);
    ``_selective_scan_fwd`` / ``_selective_scan_bwd``                 launchers, no autograd;
    ``SelectiveScanTritonFn``                                          autograd Function;
    ``selective_scan_triton``                                          public function.

The algorithm is described in :mod:`genomamba.kernels.triton_scan_kernels`.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import triton
from genomamba.kernels.launch_config import ScanConfig, scan_config
from genomamba.kernels.triton_scan_kernels import _selective_scan_bwd_kernel, _selective_scan_fwd_kernel
from torch import Tensor


def _as_grouped(BC: Tensor) -> Tensor:
    """(b, n, L) -> (b, 1, n, L) view; grouped inputs unchanged. Made contiguous for shared strides."""
    return (BC.unsqueeze(1) if BC.dim() == 3 else BC).contiguous()


@dataclass(frozen=True)
class KernelLaunch:
    """One kernel launch, fully assembled: what the launcher runs and what the AOT report compiles.

    ``args`` are the positional runtime arguments (tensors and ints), ``constexprs`` the
    ``tl.constexpr`` keyword arguments; ``grid`` is (batch, channel blocks) for these kernels and
    (channel blocks, batch, segments) for the chunked ones. ``num_stages`` / ``maxnreg`` None:
    triton's default (``maxnreg``: the register cap handed to ptxas).
    """

    kernel: Any
    grid: tuple[int, ...]
    args: tuple
    constexprs: dict[str, int | bool]
    num_warps: int
    num_stages: int | None = None
    maxnreg: int | None = None

    @property
    def programs(self) -> int:
        return math.prod(self.grid)

    def run(self, device: torch.device) -> None:
        with torch.cuda.device(device) if device.type == "cuda" else nullcontext():
            self.kernel[self.grid](*self.args, **self.constexprs, **self.options())

    def options(self) -> dict[str, int]:
        """Compile options beside the constexprs: num_warps, and num_stages / maxnreg where set."""
        opts = {"num_warps": self.num_warps}
        for name in ("num_stages", "maxnreg"):
            if getattr(self, name) is not None:
                opts[name] = getattr(self, name)
        return opts


def _prepare_fwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, initial_state: Tensor | None, store_ckpt: bool,
    cfg: ScanConfig,
) -> tuple[KernelLaunch, Tensor, Tensor, Tensor | None]:
    """Allocate the forward's outputs and assemble its launch (works on meta tensors too)."""
    batch, d, L = u.shape
    n = A.shape[1]
    Bg, Cg = _as_grouped(B), _as_grouped(C)
    groups = Bg.shape[1]
    assert d % groups == 0 and Cg.shape == Bg.shape == (batch, groups, n, L)
    u, delta = u.contiguous(), delta.contiguous()
    z = z.contiguous() if z is not None else None
    D = D.contiguous() if D is not None else None  # (d,) read with unit stride
    delta_bias = delta_bias.contiguous() if delta_bias is not None else None
    assert delta.shape == u.shape and (z is None or z.shape == u.shape)
    out = torch.empty_like(u)
    last = torch.empty(batch, d, n, device=u.device, dtype=torch.float32)
    n_chunks = triton.cdiv(L, cfg.chunk)
    ckpt = torch.empty(batch, d, max(n_chunks, 1), n, device=u.device, dtype=torch.float32) if store_ckpt else last
    h0 = initial_state.contiguous() if initial_state is not None else last
    bd = cfg.fwd_block_d
    launch = KernelLaunch(
        _selective_scan_fwd_kernel,
        (batch, triton.cdiv(d, bd)),
        (
            u, delta, A, Bg, Cg, D if D is not None else u, z if z is not None else u,
            delta_bias if delta_bias is not None else u, h0, out, last, ckpt,
            d, L, n, d // groups, n_chunks,
            u.stride(0), u.stride(1), u.stride(2),
            Bg.stride(0), Bg.stride(1), Bg.stride(2), Bg.stride(3),
            A.stride(0), A.stride(1),
            last.stride(0), last.stride(1), last.stride(2),
            *(ckpt.stride() if store_ckpt else (0, 0, 0, 0)),
        ),
        dict(
            BLOCK_D=bd, BLOCK_N=cfg.block_n, CHUNK=cfg.chunk,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_DBIAS=delta_bias is not None,
            HAS_H0=initial_state is not None, SOFTPLUS=bool(delta_softplus), STORE_CKPT=store_ckpt,
        ),
        cfg.fwd_warps,
    )
    return launch, out, last, (ckpt if store_ckpt else None)


def _selective_scan_fwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, initial_state: Tensor | None,
    store_ckpt: bool, cfg: ScanConfig,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Launch the forward kernel.

    Returns out (b, d, L) in u.dtype, last_state (b, d, n) fp32, and the chunk-start states
    (b, d, ceil(L / chunk), n) fp32 when ``store_ckpt``.
    """
    launch, out, last, ckpt = _prepare_fwd(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, store_ckpt, cfg
    )
    launch.run(u.device)
    return out, last, ckpt


def _prepare_bwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, ckpt: Tensor, dout: Tensor, dlast: Tensor | None,
    cfg: ScanConfig,
) -> tuple[KernelLaunch, tuple[Tensor, ...]]:
    """Allocate the backward's fp32 outputs and assemble its launch (works on meta tensors too).

    Returns the launch and (du, ddelta, dz, dA_partial, dB, dC, dD_partial, ddelta_bias_partial, dh0).
    """
    batch, d, L = u.shape
    n = A.shape[1]
    Bg, Cg = _as_grouped(B), _as_grouped(C)
    groups = Bg.shape[1]
    u, delta, dout = u.contiguous(), delta.contiguous(), dout.contiguous()
    z = z.contiguous() if z is not None else None
    D = D.contiguous() if D is not None else None
    delta_bias = delta_bias.contiguous() if delta_bias is not None else None
    f32 = dict(device=u.device, dtype=torch.float32)
    du = torch.empty(batch, d, L, **f32)
    ddelta = torch.empty(batch, d, L, **f32)
    dz = torch.empty(batch, d, L, **f32) if z is not None else du
    dA_p = torch.empty(batch, d, n, **f32)
    dB = torch.zeros(batch, groups, n, L, **f32)
    dC = torch.zeros(batch, groups, n, L, **f32)
    dD_p = torch.empty(batch, d, **f32)
    ddb_p = torch.empty(batch, d, **f32)
    dh0 = torch.empty(batch, d, n, **f32)
    dlast_c = dlast.contiguous() if dlast is not None else dh0
    assert ckpt.shape[2] == max(triton.cdiv(L, cfg.chunk), 1)
    bd = cfg.bwd_block_d
    launch = KernelLaunch(
        _selective_scan_bwd_kernel,
        (batch, triton.cdiv(d, bd)),
        (
            u, delta, A, Bg, Cg, D if D is not None else u, z if z is not None else u,
            delta_bias if delta_bias is not None else u, ckpt, dout, dlast_c,
            du, ddelta, dz, dA_p, dB, dC, dD_p, ddb_p, dh0,
            d, L, n, d // groups, triton.cdiv(L, cfg.chunk),
            u.stride(0), u.stride(1), u.stride(2),
            Bg.stride(0), Bg.stride(1), Bg.stride(2), Bg.stride(3),
            A.stride(0), A.stride(1),
            dh0.stride(0), dh0.stride(1), dh0.stride(2),
            *ckpt.stride(),
            dD_p.stride(0), dD_p.stride(1),
        ),
        dict(
            BLOCK_D=bd, BLOCK_N=cfg.block_n, CHUNK=cfg.chunk,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_DBIAS=delta_bias is not None,
            HAS_DLAST=dlast is not None, SOFTPLUS=bool(delta_softplus),
        ),
        cfg.bwd_warps,
    )
    return launch, (du, ddelta, dz, dA_p, dB, dC, dD_p, ddb_p, dh0)


def _selective_scan_bwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, ckpt: Tensor, dout: Tensor, dlast: Tensor | None,
    cfg: ScanConfig,
) -> tuple[Tensor, ...]:
    """Launch the backward kernel. Returns fp32 (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dh0)
    with dB/dC in the (b, g, n, L) layout and None for absent optional inputs."""
    launch, (du, ddelta, dz, dA_p, dB, dC, dD_p, ddb_p, dh0) = _prepare_bwd(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, ckpt, dout, dlast, cfg
    )
    launch.run(u.device)
    return (
        du, ddelta, dA_p.sum(0), dB, dC,
        dD_p.sum(0) if D is not None else None,
        dz if z is not None else None,
        ddb_p.sum(0) if delta_bias is not None else None,
        dh0,
    )


def _num_sms(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    return torch.cuda.get_device_properties(device).multi_processor_count


def config_for(
    u: Tensor, A: Tensor, B: Tensor, chunk: int | None = None, block_d: int | None = None
) -> ScanConfig:
    """The launch configuration for these inputs (u (b, d, L), A (d, n), B (b, [g,] n, L)) on u's device."""
    batch, d, _ = u.shape
    groups = B.shape[1] if B.dim() == 4 else 1
    return scan_config(batch, d, A.shape[1], groups, num_sms=_num_sms(u.device), chunk=chunk, block_d=block_d)


class SelectiveScanTritonFn(torch.autograd.Function):
    """Saves the inputs and the chunk-start states; the backward recomputes everything else."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, chunk, block_d):
        cfg = config_for(u, A, B, chunk, block_d)
        out, last, ckpt = _selective_scan_fwd(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
            store_ckpt=any(ctx.needs_input_grad), cfg=cfg,
        )
        # Unused outputs get None grads, not zero tensors: the backward then skips the dlast load.
        ctx.set_materialize_grads(False)
        ctx.delta_softplus = delta_softplus
        ctx.cfg = cfg  # the backward must use the forward's chunk (the checkpoints are per chunk)
        ctx.h0_dtype = initial_state.dtype if initial_state is not None else None
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt)
        return out, last

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
        if dout is None:
            dout = torch.zeros_like(u)
        du, ddelta, dA, dB, dC, dD, dz, ddb, dh0 = _selective_scan_bwd(
            u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus, ckpt, dout, dlast, cfg=ctx.cfg,
        )
        if B.dim() == 3:
            dB, dC = dB.squeeze(1), dC.squeeze(1)
        return (
            du.to(u.dtype), ddelta.to(delta.dtype), dA.to(A.dtype), dB.to(B.dtype), dC.to(C.dtype),
            dD.to(D.dtype) if dD is not None else None,
            dz.to(z.dtype) if dz is not None else None,
            ddb.to(delta_bias.dtype) if ddb is not None else None,
            None,
            dh0.to(ctx.h0_dtype) if ctx.h0_dtype is not None else None,
            None, None,
        )


def selective_scan_triton(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
    z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
    return_last_state: bool = False, initial_state: Tensor | None = None,
    chunk: int | None = None, block_d: int | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Triton selective scan; same contract as ``selective_scan_ref`` (fp32 or fp16/bf16 inputs).

    Args:
        u, delta: (batch, d, L).  A: (d, n).  B, C: (batch, n, L) or (batch, g, n, L).
        D, delta_bias: optional (d,).  z: optional (batch, d, L).  initial_state: optional (batch, d, n).
        chunk, block_d: override the tile sizes :func:`~genomamba.kernels.launch_config.scan_config`
            picks (powers of two; time steps per associative scan, channels per program).

    Returns:
        out (batch, d, L) in u.dtype; with ``return_last_state`` also the fp32 (batch, d, n) state.
    """
    out, last = SelectiveScanTritonFn.apply(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, chunk, block_d
    )
    return (out, last) if return_last_state else out


__all__ = ["selective_scan_triton", "SelectiveScanTritonFn", "KernelLaunch", "config_for"]
