"""Triton selective scan: chunked forward/backward kernels, launchers and the autograd Function.

This module imports triton at top level; only the dispatch imports it, lazily, so that
``import genomamba.kernels`` never needs triton. On CPU tensors it runs under the Triton
interpreter (``TRITON_INTERPRET=1`` set before triton is first imported).

Layers (mamba_ssm ``ops/`` style):
    ``_selective_scan_fwd_kernel`` / ``_selective_scan_bwd_kernel``  @triton.jit;
    ``_selective_scan_fwd`` / ``_selective_scan_bwd``                 launchers, no autograd;
    ``SelectiveScanTritonFn``                                          autograd Function;
    ``selective_scan_triton``                                          public function.

Algorithm. One program owns (batch b, a block of BLOCK_D channels) and all n states, kept in
registers as a (BLOCK_D, BLOCK_N) tile. Time is cut into chunks of CHUNK steps; inside a chunk
the first-order recurrence h_t = a_t h_{t-1} + x_t is solved with ``tl.associative_scan`` on
pairs (a, x) with the combine (a1, x1), (a2, x2) -> (a1 a2, a2 x1 + x2) (Blelloch 1990;
Gu & Dao 2023, Sec. 3.3.2), and the state is carried to the next chunk. The forward stores only
the chunk-start states (b, d, n_chunks, n); the backward walks the chunks in reverse, recomputes
the states of one chunk from its checkpoint, and solves the adjoint recurrence
lam_t = C_t dy_t + a_{t+1} lam_{t+1} with an associative scan over the flipped chunk. Per-step states never
reach HBM. dB / dC are shared by all channels of a group, so blocks add them atomically.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import triton
import triton.language as tl
from genomamba.kernels.launch_config import ScanConfig, scan_config
from torch import Tensor

_SOFTPLUS_THRESHOLD = 20.0


@triton.jit
def _linear_combine(a1, x1, a2, x2):
    # Composition of x -> a1 x + x1 followed by x -> a2 x + x2.
    return a1 * a2, a2 * x1 + x2


@triton.jit
def _softplus(v):
    return tl.where(v <= 20.0, tl.log(1.0 + tl.exp(v)), v)


@triton.jit
def _selective_scan_fwd_kernel(
    # pointers
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, dbias_ptr, h0_ptr,
    out_ptr, last_ptr, ckpt_ptr,
    # dims
    dim, seqlen, dstate, dpg, n_chunks,
    # strides: u/delta/z/out share (b, d, l); B/C share (b, g, n, l); states (b, d, n); ckpt (b, d, c, n)
    s_u_b, s_u_d, s_u_l,
    s_bc_b, s_bc_g, s_bc_n, s_bc_l,
    s_A_d, s_A_n,
    s_h_b, s_h_d, s_h_n,
    s_ck_b, s_ck_d, s_ck_c, s_ck_n,
    # meta
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_DBIAS: tl.constexpr, HAS_H0: tl.constexpr,
    SOFTPLUS: tl.constexpr, STORE_CKPT: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    offs_t = tl.arange(0, CHUNK)
    mask_d = offs_d < dim
    mask_dn = mask_d[:, None] & (offs_n < dstate)[None, :]
    grp = offs_d // dpg

    A = tl.load(A_ptr + offs_d[:, None] * s_A_d + offs_n[None, :] * s_A_n, mask=mask_dn, other=0.0).to(tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_DBIAS:
        dbias = tl.load(dbias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    h_offs = pid_b * s_h_b + offs_d[:, None] * s_h_d + offs_n[None, :] * s_h_n
    if HAS_H0:
        h = tl.load(h0_ptr + h_offs, mask=mask_dn, other=0.0).to(tl.float32)
    else:
        h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)

    u_row = pid_b * s_u_b + offs_d[:, None] * s_u_d  # (BLOCK_D, 1)
    bc_row = pid_b * s_bc_b + grp[:, None, None] * s_bc_g + offs_n[None, :, None] * s_bc_n
    ck_row = pid_b * s_ck_b + offs_d[:, None] * s_ck_d + offs_n[None, :] * s_ck_n

    for c in range(0, n_chunks):
        t = c * CHUNK + offs_t
        mask_t = t < seqlen
        m_dt = mask_d[:, None] & mask_t[None, :]
        m3 = mask_dn[:, :, None] & mask_t[None, None, :]
        if STORE_CKPT:
            tl.store(ckpt_ptr + ck_row + c * s_ck_c, h, mask=mask_dn)
        u = tl.load(u_ptr + u_row + t[None, :] * s_u_l, mask=m_dt, other=0.0).to(tl.float32)
        dt = tl.load(delta_ptr + u_row + t[None, :] * s_u_l, mask=m_dt, other=0.0).to(tl.float32)
        if HAS_DBIAS:
            dt += dbias[:, None]
        if SOFTPLUS:
            dt = _softplus(dt)
        dt = tl.where(m_dt, dt, 0.0)  # padded steps become the identity map (a = 1, x = 0)
        Bv = tl.load(B_ptr + bc_row + t[None, None, :] * s_bc_l, mask=m3, other=0.0).to(tl.float32)
        Cv = tl.load(C_ptr + bc_row + t[None, None, :] * s_bc_l, mask=m3, other=0.0).to(tl.float32)
        a = tl.exp(dt[:, None, :] * A[:, :, None])  # (BLOCK_D, BLOCK_N, CHUNK)
        x = Bv * (dt * u)[:, None, :]
        a_cum, x_cum = tl.associative_scan((a, x), axis=2, combine_fn=_linear_combine)
        hs = a_cum * h[:, :, None] + x_cum
        y = tl.sum(Cv * hs, axis=1)  # (BLOCK_D, CHUNK)
        if HAS_D:
            y += Dv[:, None] * u
        if HAS_Z:
            zz = tl.load(z_ptr + u_row + t[None, :] * s_u_l, mask=m_dt, other=0.0).to(tl.float32)
            y *= zz * tl.sigmoid(zz)
        tl.store(out_ptr + u_row + t[None, :] * s_u_l, y.to(out_ptr.dtype.element_ty), mask=m_dt)
        h = tl.sum(tl.where(offs_t[None, None, :] == CHUNK - 1, hs, 0.0), axis=2)
    tl.store(last_ptr + h_offs, h, mask=mask_dn)


@triton.jit
def _selective_scan_bwd_kernel(
    # pointers
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, dbias_ptr, ckpt_ptr, dout_ptr, dlast_ptr,
    du_ptr, ddelta_ptr, dz_ptr, dA_ptr, dB_ptr, dC_ptr, dD_ptr, ddbias_ptr, dh0_ptr,
    # dims
    dim, seqlen, dstate, dpg, n_chunks,
    # strides: u-like (inputs, dout, du, ddelta, dz); B/C-like (B, C, dB, dC); states (dlast, dh0, dA partial)
    s_u_b, s_u_d, s_u_l,
    s_bc_b, s_bc_g, s_bc_n, s_bc_l,
    s_A_d, s_A_n,
    s_h_b, s_h_d, s_h_n,
    s_ck_b, s_ck_d, s_ck_c, s_ck_n,
    s_p_b, s_p_d,  # (batch, d) partials of dD and ddelta_bias
    # meta
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_DBIAS: tl.constexpr, HAS_DLAST: tl.constexpr,
    SOFTPLUS: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    offs_t = tl.arange(0, CHUNK)
    mask_d = offs_d < dim
    mask_n = offs_n < dstate
    mask_dn = mask_d[:, None] & mask_n[None, :]
    grp = offs_d // dpg
    grp0 = (pid_d * BLOCK_D) // dpg  # the launcher keeps every block inside one group

    A = tl.load(A_ptr + offs_d[:, None] * s_A_d + offs_n[None, :] * s_A_n, mask=mask_dn, other=0.0).to(tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_DBIAS:
        dbias = tl.load(dbias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    h_offs = pid_b * s_h_b + offs_d[:, None] * s_h_d + offs_n[None, :] * s_h_n
    if HAS_DLAST:
        carry = tl.load(dlast_ptr + h_offs, mask=mask_dn, other=0.0).to(tl.float32)
    else:
        carry = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    dA_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    ddb_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)

    u_row = pid_b * s_u_b + offs_d[:, None] * s_u_d
    bc_row = pid_b * s_bc_b + grp[:, None, None] * s_bc_g + offs_n[None, :, None] * s_bc_n
    dbc_row = pid_b * s_bc_b + grp0 * s_bc_g + offs_n[:, None] * s_bc_n  # (BLOCK_N, 1)
    ck_row = pid_b * s_ck_b + offs_d[:, None] * s_ck_d + offs_n[None, :] * s_ck_n

    for cc in range(0, n_chunks):
        c = n_chunks - 1 - cc
        t = c * CHUNK + offs_t
        mask_t = t < seqlen
        m_dt = mask_d[:, None] & mask_t[None, :]
        m3 = mask_dn[:, :, None] & mask_t[None, None, :]
        # Recompute this chunk's states from its checkpoint.
        h = tl.load(ckpt_ptr + ck_row + c * s_ck_c, mask=mask_dn, other=0.0)
        u = tl.load(u_ptr + u_row + t[None, :] * s_u_l, mask=m_dt, other=0.0).to(tl.float32)
        v = tl.load(delta_ptr + u_row + t[None, :] * s_u_l, mask=m_dt, other=0.0).to(tl.float32)
        if HAS_DBIAS:
            v += dbias[:, None]
        dt = v
        if SOFTPLUS:
            dt = _softplus(v)
        dt = tl.where(m_dt, dt, 0.0)
        Bv = tl.load(B_ptr + bc_row + t[None, None, :] * s_bc_l, mask=m3, other=0.0).to(tl.float32)
        Cv = tl.load(C_ptr + bc_row + t[None, None, :] * s_bc_l, mask=m3, other=0.0).to(tl.float32)
        a = tl.exp(dt[:, None, :] * A[:, :, None])
        x = Bv * (dt * u)[:, None, :]
        a_cum, x_cum = tl.associative_scan((a, x), axis=2, combine_fn=_linear_combine)
        hs = a_cum * h[:, :, None] + x_cum
        # a_{t+1} at position t (inside this chunk; the step after the chunk enters via `carry`).
        t1 = t + 1
        m_dt1 = mask_d[:, None] & ((t1 < seqlen) & (offs_t < CHUNK - 1))[None, :]
        v1 = tl.load(delta_ptr + u_row + t1[None, :] * s_u_l, mask=m_dt1, other=0.0).to(tl.float32)
        if HAS_DBIAS:
            v1 += dbias[:, None]
        dt1 = v1
        if SOFTPLUS:
            dt1 = _softplus(v1)
        dt1 = tl.where(m_dt1, dt1, 0.0)
        a_next = tl.exp(dt1[:, None, :] * A[:, :, None])

        g = tl.load(dout_ptr + u_row + t[None, :] * s_u_l, mask=m_dt, other=0.0).to(tl.float32)
        if HAS_Z:
            zz = tl.load(z_ptr + u_row + t[None, :] * s_u_l, mask=m_dt, other=0.0).to(tl.float32)
            sg = tl.sigmoid(zz)
            y = tl.sum(Cv * hs, axis=1)
            if HAS_D:
                y += Dv[:, None] * u
            tl.store(dz_ptr + u_row + t[None, :] * s_u_l, g * y * sg * (1.0 + zz * (1.0 - sg)), mask=m_dt)
            dy = g * zz * sg
        else:
            dy = g
        # Adjoint: lam_t = C_t dy_t + a_{t+1} lam_{t+1}; the chunk's last step also gets `carry`.
        rhs = Cv * dy[:, None, :] + tl.where(offs_t[None, None, :] == CHUNK - 1, carry[:, :, None], 0.0)
        # Reverse-time scan as flip -> forward scan -> flip: `reverse=True` has had wrong operand
        # order for non-commutative combines on GPU (triton-lang/triton#4362).
        _, lam_rev = tl.associative_scan(
            (tl.flip(a_next, 2), tl.flip(rhs, 2)), axis=2, combine_fn=_linear_combine
        )
        lam = tl.flip(lam_rev, 2)
        carry = tl.sum(tl.where(offs_t[None, None, :] == 0, a * lam, 0.0), axis=2)

        ah = hs - x  # = a_t * h_{t-1}, without a division
        du = tl.sum(lam * Bv, axis=1) * dt
        ddt = tl.sum(lam * (Bv * u[:, None, :] + A[:, :, None] * ah), axis=1)
        if HAS_D:
            du += Dv[:, None] * dy
            dD_acc += tl.sum(dy * u, axis=1)
        if SOFTPLUS:
            ddt = tl.where(v <= 20.0, ddt * tl.sigmoid(v), ddt)
        ddt = tl.where(m_dt, ddt, 0.0)
        ddb_acc += tl.sum(ddt, axis=1)
        dA_acc += tl.sum(lam * dt[:, None, :] * ah, axis=2)
        tl.store(du_ptr + u_row + t[None, :] * s_u_l, du, mask=m_dt)
        tl.store(ddelta_ptr + u_row + t[None, :] * s_u_l, ddt, mask=m_dt)
        m_nt = mask_n[:, None] & mask_t[None, :]
        dbc_offs = dbc_row + t[None, :] * s_bc_l
        tl.atomic_add(dB_ptr + dbc_offs, tl.sum(lam * (dt * u)[:, None, :], axis=0), mask=m_nt)
        tl.atomic_add(dC_ptr + dbc_offs, tl.sum(hs * dy[:, None, :], axis=0), mask=m_nt)

    tl.store(dh0_ptr + h_offs, carry, mask=mask_dn)
    tl.store(dA_ptr + h_offs, dA_acc, mask=mask_dn)
    p_offs = pid_b * s_p_b + offs_d * s_p_d
    tl.store(dD_ptr + p_offs, dD_acc, mask=mask_d)
    tl.store(ddbias_ptr + p_offs, ddb_acc, mask=mask_d)


def _as_grouped(BC: Tensor) -> Tensor:
    """(b, n, L) -> (b, 1, n, L) view; grouped inputs unchanged. Made contiguous for shared strides."""
    return (BC.unsqueeze(1) if BC.dim() == 3 else BC).contiguous()


@dataclass(frozen=True)
class KernelLaunch:
    """One kernel launch, fully assembled: what the launcher runs and what the AOT report compiles.

    ``args`` are the positional runtime arguments (tensors and ints), ``constexprs`` the
    ``tl.constexpr`` keyword arguments; ``grid`` is (batch, channel blocks).
    """

    kernel: Any
    grid: tuple[int, int]
    args: tuple
    constexprs: dict[str, int | bool]
    num_warps: int

    @property
    def programs(self) -> int:
        return self.grid[0] * self.grid[1]

    def run(self, device: torch.device) -> None:
        with torch.cuda.device(device) if device.type == "cuda" else nullcontext():
            self.kernel[self.grid](*self.args, **self.constexprs, num_warps=self.num_warps)


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
