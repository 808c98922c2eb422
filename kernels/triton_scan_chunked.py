"""Chunked Triton selective scan: launchers and the autograd Function over the kernels of
``triton_scan_chunked_kernels`` (the algorithm is described there).

This module (and the kernels') imports triton at top level; only the dispatch imports it,
lazily, so that ``import genomamba.kernels`` never needs triton. On CPU tensors it runs under the
Triton interpreter (``TRITON_INTERPRET=1`` set before triton is first imported).

Layers (mamba_ssm ``ops/`` style):
    ``_chunked_scan_{fwd,bwd}[_seg]_kernel``   @triton.jit (``triton_scan_chunked_kernels``);
    ``_prepare_fwd`` / ``_prepare_bwd``         allocation and launch assembly (no autograd), also
                                               run on meta tensors by the AOT report;
    ``_chunked_fwd`` / ``_chunked_bwd``         launchers;
    ``SelectiveScanChunkedFn``                  autograd Function;
    ``selective_scan_chunked``                  public function.

Which Triton implementation the dispatch runs (this one or ``triton_scan``) is chosen by
``GENOMAMBA_TRITON_SCAN`` (:func:`genomamba.kernels.dispatch.triton_scan_impl`).
"""

from __future__ import annotations

import torch
import triton
from genomamba.kernels.launch_config import ChunkedScanConfig, chunked_scan_config
from genomamba.kernels.triton_scan import KernelLaunch
from genomamba.kernels.triton_scan_chunked_kernels import (
    _chunked_scan_bwd_kernel,
    _chunked_scan_bwd_seg_kernel,
    _chunked_scan_fwd_kernel,
    _chunked_scan_fwd_seg_kernel,
)
from torch import Tensor

# No software pipelining: the chunk loops pass carries between threads through memory behind a
# barrier, and loads must not be hoisted across it (one stage is also what fits the registers).
NUM_STAGES = 1
# The register cap handed to ptxas: left to itself, ptxas held the bf16 forward at 127 registers on
# sm_90 and spilled 8 bytes (the segment passes at 96, 8 bytes); with the full register file allowed
# they use what they need, no spills (python -m genomamba.kernels.report --impl chunked).
MAXNREG = 255


def _as_grouped(BC: Tensor) -> Tensor:
    """(b, n, L) -> (b, 1, n, L) view; grouped inputs unchanged. Made contiguous for shared strides."""
    return (BC.unsqueeze(1) if BC.dim() == 3 else BC).contiguous()


def _contig(t: Tensor | None) -> Tensor | None:
    return t.contiguous() if t is not None else None


def _n_chunks(L: int, chunk: int) -> int:
    return max(1, triton.cdiv(L, chunk))


def _prepare_fwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, initial_state: Tensor | None, cfg: ChunkedScanConfig,
) -> tuple[list[KernelLaunch], Tensor, Tensor]:
    """Allocate the forward's outputs and assemble its launches (works on meta tensors too).

    Returns the launches (the segment pass first when L is split), out (b, d, L) in u.dtype and the
    chunk-start states ckpt (n_chunks + 1, b, d, n) fp32, whose last row is the final state.
    """
    batch, d, L = u.shape
    n = A.shape[1]
    Bg, Cg = _as_grouped(B), _as_grouped(C)
    groups = Bg.shape[1]
    assert d % groups == 0 and Cg.shape == Bg.shape == (batch, groups, n, L)
    u, delta, z, D, delta_bias = u.contiguous(), delta.contiguous(), _contig(z), _contig(D), _contig(delta_bias)
    assert delta.shape == u.shape and (z is None or z.shape == u.shape)
    bd = cfg.fwd_block_d
    assert (d // groups) % bd == 0 or groups == 1, "a channel block must stay inside one group"
    n_chunks = _n_chunks(L, cfg.chunk)
    segs, per_seg = cfg.split_fwd(batch, d, n_chunks)
    f32 = dict(device=u.device, dtype=torch.float32)
    out = torch.empty_like(u)
    ckpt = torch.empty(n_chunks + 1, batch, d, n, **f32)
    seg_init = torch.empty(batch, d, segs, n, **f32)
    seg_decay = torch.empty(batch, d, segs, n, **f32) if segs > 1 else seg_init
    seg_h = torch.empty(batch, d, segs, n, **f32) if segs > 1 else seg_init
    h0 = initial_state.contiguous() if initial_state is not None else ckpt[0]
    blocks = triton.cdiv(d, bd)
    dims = (d, L, n, d // groups, n_chunks, per_seg)
    u_strides = (u.stride(0), u.stride(1), u.stride(2))
    bc_strides = (Bg.stride(0), Bg.stride(1), Bg.stride(2), Bg.stride(3))
    sg_strides = (seg_init.stride(0), seg_init.stride(1), seg_init.stride(2))
    launches = []
    if segs > 1:
        launches.append(KernelLaunch(
            _chunked_scan_fwd_seg_kernel, (blocks, batch, segs - 1),
            (u, delta, A, Bg, delta_bias if delta_bias is not None else u, seg_decay, seg_h,
             *dims, *u_strides, *bc_strides, A.stride(0), A.stride(1), *sg_strides),
            dict(BLOCK_D=bd, BLOCK_N=cfg.block_n, CHUNK=cfg.chunk, HAS_DBIAS=delta_bias is not None,
                 SOFTPLUS=bool(delta_softplus)),
            cfg.fwd_warps, NUM_STAGES, MAXNREG,
        ))
    launches.append(KernelLaunch(
        _chunked_scan_fwd_kernel, (blocks, batch, segs),
        (u, delta, A, Bg, Cg, D if D is not None else u, z if z is not None else u,
         delta_bias if delta_bias is not None else u, h0, seg_decay, seg_h, out, ckpt, seg_init,
         *dims, *u_strides, *bc_strides, A.stride(0), A.stride(1),
         h0.stride(0), h0.stride(1), h0.stride(2),
         ckpt.stride(0), ckpt.stride(1), ckpt.stride(2), *sg_strides),
        dict(BLOCK_D=bd, BLOCK_N=cfg.block_n, CHUNK=cfg.chunk, HAS_D=D is not None, HAS_Z=z is not None,
             HAS_DBIAS=delta_bias is not None, HAS_H0=initial_state is not None, SOFTPLUS=bool(delta_softplus)),
        cfg.fwd_warps, NUM_STAGES, MAXNREG,
    ))
    return launches, out, ckpt


def _chunked_fwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, initial_state: Tensor | None, cfg: ChunkedScanConfig,
) -> tuple[Tensor, Tensor, Tensor]:
    """Launch the forward. Returns out (b, d, L) in u.dtype, the last state (b, d, n) fp32 and the
    chunk-start states (n_chunks + 1, b, d, n) fp32."""
    launches, out, ckpt = _prepare_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, cfg)
    for launch in launches:
        launch.run(u.device)
    return out, ckpt[-1], ckpt


def _prepare_bwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, ckpt: Tensor, dout: Tensor, dlast: Tensor | None,
    cfg: ChunkedScanConfig,
) -> tuple[list[KernelLaunch], tuple[Tensor, ...]]:
    """Allocate the backward's outputs and assemble its launches (works on meta tensors too).

    Returns the launches and (du, ddelta, dz) in the input dtypes, the fp32 partials
    (dA (S, b, d, n), dB, dC (b, g, n, L), dD, ddelta_bias (S, b, d)) and the per-chunk carries
    (n_chunks, b, d, n), whose first row is the initial state's gradient.
    """
    batch, d, L = u.shape
    n = A.shape[1]
    Bg, Cg = _as_grouped(B), _as_grouped(C)
    groups = Bg.shape[1]
    u, delta, dout, z, D, delta_bias = (u.contiguous(), delta.contiguous(), dout.contiguous(), _contig(z),
                                        _contig(D), _contig(delta_bias))
    bd = cfg.bwd_block_d
    n_chunks = _n_chunks(L, cfg.chunk)
    assert ckpt.shape == (n_chunks + 1, batch, d, n)
    segs, per_seg = cfg.split_bwd(batch, d, n_chunks)
    f32 = dict(device=u.device, dtype=torch.float32)
    du = torch.empty_like(u)
    ddelta = torch.empty_like(delta)
    dz = torch.empty_like(z) if z is not None else du
    dA_p = torch.zeros(segs, batch, d, n, **f32)
    dB = torch.zeros(batch, groups, n, L, **f32)
    dC = torch.zeros(batch, groups, n, L, **f32)
    dD_p = torch.empty(segs, batch, d, **f32)
    ddb_p = torch.empty(segs, batch, d, **f32)
    carry = torch.empty(n_chunks, batch, d, n, **f32)
    seg_carry = torch.empty(batch, d, segs, n, **f32)
    seg_decay = torch.empty(batch, d, segs, n, **f32) if segs > 1 else seg_carry
    seg_g = torch.empty(batch, d, segs, n, **f32) if segs > 1 else seg_carry
    dlast_c = dlast.contiguous() if dlast is not None else carry[0]
    blocks = triton.cdiv(d, bd)
    dims = (d, L, n, d // groups, n_chunks, per_seg)
    u_strides = (u.stride(0), u.stride(1), u.stride(2))
    bc_strides = (Bg.stride(0), Bg.stride(1), Bg.stride(2), Bg.stride(3))
    sg_strides = (seg_carry.stride(0), seg_carry.stride(1), seg_carry.stride(2))
    common = dict(BLOCK_D=bd, BLOCK_N=cfg.block_n, CHUNK=cfg.chunk)
    launches = []
    if segs > 1:
        launches.append(KernelLaunch(
            _chunked_scan_bwd_seg_kernel, (blocks, batch, segs - 1),
            (delta, A, Cg, z if z is not None else u, delta_bias if delta_bias is not None else u, dout,
             seg_decay, seg_g, *dims, *u_strides, *bc_strides, A.stride(0), A.stride(1), *sg_strides),
            dict(common, HAS_Z=z is not None, HAS_DBIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus)),
            cfg.bwd_warps, NUM_STAGES, MAXNREG,
        ))
    launches.append(KernelLaunch(
        _chunked_scan_bwd_kernel, (blocks, batch, segs),
        (u, delta, A, Bg, Cg, D if D is not None else u, z if z is not None else u,
         delta_bias if delta_bias is not None else u, ckpt, seg_decay, seg_g, dout, dlast_c,
         du, ddelta, dz, dA_p, dB, dC, dD_p, ddb_p, carry, seg_carry,
         *dims, *u_strides, *bc_strides, A.stride(0), A.stride(1),
         dlast_c.stride(0), dlast_c.stride(1), dlast_c.stride(2),
         ckpt.stride(0), ckpt.stride(1), ckpt.stride(2), *sg_strides,
         dA_p.stride(0), dA_p.stride(1), dA_p.stride(2), dD_p.stride(0), dD_p.stride(1)),
        dict(common, HAS_D=D is not None, HAS_Z=z is not None, HAS_DBIAS=delta_bias is not None,
             HAS_DLAST=dlast is not None, SOFTPLUS=bool(delta_softplus), SAFE_REVERSE=cfg.safe_reverse),
        cfg.bwd_warps, NUM_STAGES, MAXNREG,
    ))
    return launches, (du, ddelta, dz, dA_p, dB, dC, dD_p, ddb_p, carry)


def _chunked_bwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, ckpt: Tensor, dout: Tensor, dlast: Tensor | None,
    cfg: ChunkedScanConfig,
) -> tuple[Tensor | None, ...]:
    """Launch the backward. Returns (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dh0): du / ddelta /
    dz in the input dtypes, the rest fp32, dB / dC in the (b, g, n, L) layout, None for absent inputs."""
    launches, (du, ddelta, dz, dA_p, dB, dC, dD_p, ddb_p, carry) = _prepare_bwd(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, ckpt, dout, dlast, cfg
    )
    for launch in launches:
        launch.run(u.device)
    return (
        du, ddelta, dA_p.sum((0, 1)), dB, dC,
        dD_p.sum((0, 1)) if D is not None else None,
        dz if z is not None else None,
        ddb_p.sum((0, 1)) if delta_bias is not None else None,
        carry[0],
    )


def _num_sms(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    return torch.cuda.get_device_properties(device).multi_processor_count


def config_for(u: Tensor, A: Tensor, B: Tensor, **overrides) -> ChunkedScanConfig:
    """The launch configuration for these inputs (u (b, d, L), A (d, n), B (b, [g,] n, L)) on u's device.

    ``overrides``: chunk, block_d, num_warps, segments, safe_reverse (see ``chunked_scan_config``).
    """
    batch, d, _ = u.shape
    groups = B.shape[1] if B.dim() == 4 else 1
    return chunked_scan_config(batch, d, A.shape[1], groups, num_sms=_num_sms(u.device), **overrides)


class SelectiveScanChunkedFn(torch.autograd.Function):
    """Saves the inputs and the chunk-start states; the backward recomputes everything else."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, cfg):
        out, last, ckpt = _chunked_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, cfg)
        # Unused outputs get None grads, not zero tensors: the backward then skips the dlast load.
        ctx.set_materialize_grads(False)
        ctx.delta_softplus = delta_softplus
        ctx.cfg = cfg  # the backward must use the forward's chunk (the checkpoints are per chunk)
        ctx.h0_dtype = initial_state.dtype if initial_state is not None else None
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt if any(ctx.needs_input_grad) else None)
        return out, last

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
        if dout is None:
            dout = torch.zeros_like(u)
        du, ddelta, dA, dB, dC, dD, dz, ddb, dh0 = _chunked_bwd(
            u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus, ckpt, dout, dlast, ctx.cfg,
        )
        if B.dim() == 3:
            dB, dC = dB.squeeze(1), dC.squeeze(1)
        return (
            du, ddelta, dA.to(A.dtype), dB.to(B.dtype), dC.to(C.dtype),
            dD.to(D.dtype) if dD is not None else None,
            dz,
            ddb.to(delta_bias.dtype) if ddb is not None else None,
            None,
            dh0.to(ctx.h0_dtype) if ctx.h0_dtype is not None else None,
            None,
        )


def selective_scan_chunked(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
    z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
    return_last_state: bool = False, initial_state: Tensor | None = None, **overrides,
) -> Tensor | tuple[Tensor, Tensor]:
    """Chunked Triton selective scan; same contract as ``selective_scan_ref`` (fp32 or fp16/bf16 inputs).

    Args:
        u, delta: (batch, d, L).  A: (d, n).  B, C: (batch, n, L) or (batch, g, n, L).
        D, delta_bias: optional (d,).  z: optional (batch, d, L).  initial_state: optional (batch, d, n).
        overrides: chunk, block_d, num_warps, segments, safe_reverse for
            :func:`~genomamba.kernels.launch_config.chunked_scan_config` (tests, exploration).

    Returns:
        out (batch, d, L) in u.dtype; with ``return_last_state`` also the fp32 (batch, d, n) state.
    """
    cfg = config_for(u, A, B, **overrides)
    out, last = SelectiveScanChunkedFn.apply(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, cfg
    )
    return (out, last) if return_last_state else out


__all__ = ["selective_scan_chunked", "SelectiveScanChunkedFn", "config_for"]
