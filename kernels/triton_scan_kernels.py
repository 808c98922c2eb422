"""Triton selective scan, the ``@triton.jit`` kernels (launched by :mod:`genomamba.kernels.triton_scan`).

This module imports triton at top level; only ``triton_scan`` imports it, and only the dispatch
imports that, lazily, so that ``import genomamba.kernels`` never needs triton.

Algorithm. One program owns (batch b, a block of BLOCK_D channels) and all n states, kept in
registers as a (BLOCK_D, BLOCK_N) tile. Time is cut into chunks of CHUNK steps; inside a chunk
the first-order recurrence h_t = a_t h_{t-1} + x_t is solved with ``tl.associative_scan`` on
pairs (a, x) with the combine (a1, x1), (a2, x2) -> (a1 a2, a2 x1 + x2) (Blelloch 1990;
Gu & Dao 2023, Sec. 3.3.2), and the state is carried to the next chunk. The forward stores only
the chunk-start states (b, d, n_chunks, n); the backward walks the chunks in reverse, recomputes
the states of one chunk from its checkpoint, and solves the adjoint recurrence
lam_t = C_t dy_t + a_{t+1} lam_{t+1} with an associative scan over the flipped chunk. Per-step states never
reach HBM. dB / dC are shared by all channels of a group, so blocks add them atomically.

The kernels keep their leading-underscore names: those are the names compilers and ``ptxas``
report resource usage under (see :mod:`genomamba.kernels.report`).
"""

from __future__ import annotations

import triton
import triton.language as tl
from genomamba.kernels.reference import SOFTPLUS_THRESHOLD

# Kernels may read only constexpr globals.
_SOFTPLUS_THRESHOLD = tl.constexpr(SOFTPLUS_THRESHOLD)


@triton.jit
def _linear_combine(a1, x1, a2, x2):
    # Composition of x -> a1 x + x1 followed by x -> a2 x + x2.
    return a1 * a2, a2 * x1 + x2


@triton.jit
def _softplus(v):
    return tl.where(v <= _SOFTPLUS_THRESHOLD, tl.log(1.0 + tl.exp(v)), v)


@triton.jit
def _program_block(dim, dstate, dpg, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr):
    """This program's batch row and channel block: offsets (BLOCK_D,), (BLOCK_N,), (CHUNK,), the
    channel mask (BLOCK_D,), the channel x state mask (BLOCK_D, BLOCK_N) and each channel's group."""
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    offs_t = tl.arange(0, CHUNK)
    mask_d = offs_d < dim
    mask_dn = mask_d[:, None] & (offs_n < dstate)[None, :]
    return pid_b, pid_d, offs_d, offs_n, offs_t, mask_d, mask_dn, offs_d // dpg


@triton.jit
def _load_channel_params(
    A_ptr, D_ptr, dbias_ptr, s_A_d, s_A_n, offs_d, offs_n, mask_d, mask_dn,
    BLOCK_D: tl.constexpr, HAS_D: tl.constexpr, HAS_DBIAS: tl.constexpr,
):
    """A (BLOCK_D, BLOCK_N), D (BLOCK_D,) and delta_bias (BLOCK_D,) in fp32; zeros where absent."""
    A = tl.load(A_ptr + offs_d[:, None] * s_A_d + offs_n[None, :] * s_A_n, mask=mask_dn, other=0.0).to(tl.float32)
    Dv = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dbias = tl.zeros((BLOCK_D,), dtype=tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_DBIAS:
        dbias = tl.load(dbias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    return A, Dv, dbias


@triton.jit
def _load_state_tile(ptr, offs, mask_dn, PRESENT: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
    """A (BLOCK_D, BLOCK_N) fp32 state tile (initial state, or the last state's gradient), else zeros."""
    if PRESENT:
        tile = tl.load(ptr + offs, mask=mask_dn, other=0.0).to(tl.float32)
    else:
        tile = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    return tile


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
    pid_b, pid_d, offs_d, offs_n, offs_t, mask_d, mask_dn, grp = _program_block(dim, dstate, dpg, BLOCK_D, BLOCK_N, CHUNK)
    A, Dv, dbias = _load_channel_params(
        A_ptr, D_ptr, dbias_ptr, s_A_d, s_A_n, offs_d, offs_n, mask_d, mask_dn, BLOCK_D, HAS_D, HAS_DBIAS
    )
    h_offs = pid_b * s_h_b + offs_d[:, None] * s_h_d + offs_n[None, :] * s_h_n
    h = _load_state_tile(h0_ptr, h_offs, mask_dn, HAS_H0, BLOCK_D, BLOCK_N)

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
    pid_b, pid_d, offs_d, offs_n, offs_t, mask_d, mask_dn, grp = _program_block(dim, dstate, dpg, BLOCK_D, BLOCK_N, CHUNK)
    mask_n = offs_n < dstate
    grp0 = (pid_d * BLOCK_D) // dpg  # the launcher keeps every block inside one group
    A, Dv, dbias = _load_channel_params(
        A_ptr, D_ptr, dbias_ptr, s_A_d, s_A_n, offs_d, offs_n, mask_d, mask_dn, BLOCK_D, HAS_D, HAS_DBIAS
    )
    h_offs = pid_b * s_h_b + offs_d[:, None] * s_h_d + offs_n[None, :] * s_h_n
    carry = _load_state_tile(dlast_ptr, h_offs, mask_dn, HAS_DLAST, BLOCK_D, BLOCK_N)
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
            ddt = tl.where(v <= _SOFTPLUS_THRESHOLD, ddt * tl.sigmoid(v), ddt)
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
