"""Chunked Triton selective scan, the ``@triton.jit`` kernels (launched by
:mod:`genomamba.kernels.triton_scan_chunked`).

This module imports triton at top level; only ``triton_scan_chunked`` imports it, and only the
dispatch imports that, lazily, so that ``import genomamba.kernels`` never needs triton.

Plan (after mamba_ssm's CUDA scan, Gu & Dao 2023, App. D; formulas, not code). One program owns
(batch b, BLOCK_D channels, one segment of L); by default a segment is the whole sequence, and L
is split only where batch x channel blocks are too few to fill the SMs. Time is cut into chunks of
CHUNK steps, held as (BLOCK_D, CHUNK) fp32 tiles (by default 2 x 512: the 1,024-element tile of one
channel x 1,024 steps, see ``launch_config``) with contiguous steps per thread (4 for fp32, 8 for
bf16: Triton's 16-byte loads) and L-contiguous loads. Per chunk, u, delta (bias, softplus), delta * u, D * u and silu(z)
are computed once; the d_state states are then looped over *inside* the chunk: state n loads
B_n, C_n (CHUNK,) once for all BLOCK_D channels, forms a_t = exp2(delta_t * A_n * log2 e) and
x_t = B_n,t delta_t u_t, solves h_t = a_t h_{t-1} + x_t with ``tl.associative_scan`` on (a, x)
pairs (combine (a1, x1), (a2, x2) -> (a1 a2, a2 x1 + x2); Blelloch 1990) from the state carried
in from the previous chunk, and adds C_n,t h_t into the output. There is one carry per
(channel, state): the state at the chunk's end is written by the thread that owns the last step
into the chunk-start checkpoint buffer ``ckpt`` (chunk c + 1), which the next chunk reads after a
barrier; those checkpoints, (L / CHUNK + 1) x n fp32 per channel, are all the backward keeps.

The backward walks the chunks in reverse. Per state it recomputes the chunk's states from the
checkpoint with the same forward scan, and solves the adjoint lam_t = C_t dy_t + a_{t+1} lam_{t+1}
with a reverse scan whose carry (dL/dh at the chunk's start, a_0 lam_0) goes to the previous chunk
through memory like the forward's. a_{t+1} is recomputed from delta at t + 1 (an extra exp2, so no
cross-thread shift). The identity h_t - x_t = a_t h_{t-1} avoids a shifted state. Per step:
du = delta sum_n lam B + D dy, ddelta = u sum_n lam B + sum_n A lam (h - x); per state dA_n sums
lam delta (h - x). dB / dC are shared by the BLOCK_D channels of a block, so they are summed over
the block in registers first: one fp32 atomic add per step per state per *block* (not per channel).

Split L (``NUM_SEGMENTS > 1``). A first pass (``_chunked_scan_fwd_seg_kernel``) gives each
segment's transfer map: the decay exp2(A sum delta) and the state it reaches from zero,
sum_t exp2(A sfx_t) x_t with sfx_t the sum of delta after t (a suffix sum, one per channel, not per
state; computed in reversed order so that it stays exact). Each segment program then folds the
maps of the segments before it into its initial state. The backward does the same with prefix sums
for the adjoint (``_chunked_scan_bwd_seg_kernel``). No program waits for another inside a launch.

Reverse scans. ``tl.associative_scan(reverse=True)`` has had the wrong operand order for
non-commutative combines on GPU (triton-lang/triton#4362, open). With ``SAFE_REVERSE`` the combine
carries each element's position and orders the two operands itself, which is right whichever
order the compiler passes them in; without it the plain combine is used (cheaper; the interpreter
and ``make gpu-check`` test both).

The kernels keep their leading-underscore names: those are the names ``ptxas`` reports resource
usage under (see :mod:`genomamba.kernels.report`).
"""

from __future__ import annotations

import triton
import triton.language as tl
from genomamba.kernels.reference import SOFTPLUS_THRESHOLD

# Sizes and loop bounds used only in masks and loop limits are not specialised on (triton would
# otherwise compile a variant per divisibility-by-16 of each: L 1024 vs 1000, 2 vs 16 chunks, ...).
# Strides stay specialised: their alignment decides the width of the loads.
_SIZES = ["dim", "seqlen", "dstate", "dpg", "n_chunks", "chunks_per_seg"]

# Kernels may read only constexpr globals.
_SOFTPLUS_THRESHOLD = tl.constexpr(SOFTPLUS_THRESHOLD)
_LOG2E = tl.constexpr(1.4426950408889634)


@triton.jit
def _linear_combine(a1, x1, a2, x2):
    # x -> a1 x + x1 followed by x -> a2 x + x2 (operand 1 is the earlier segment).
    return a1 * a2, a2 * x1 + x2


@triton.jit
def _reverse_combine_by_position(a1, x1, i1, a2, x2, i2):
    # Reverse scan of lam -> a lam + x: the segment with the larger position is applied first,
    # whichever operand it is; the combined segment is labelled by its smaller position.
    first_is_1 = i1 > i2
    x = tl.where(first_is_1, a2 * x1 + x2, a1 * x2 + x1)
    return a1 * a2, x, tl.minimum(i1, i2)


@triton.jit
def _softplus(v):
    return tl.where(v <= _SOFTPLUS_THRESHOLD, tl.log(1.0 + tl.exp(v)), v)


@triton.jit
def _delta(delta_ptr, offs, mask, dbias, HAS_DBIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """delta (+ bias) before and after the optional softplus, fp32; 0 where masked (identity steps)."""
    v = tl.load(delta_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_DBIAS:
        v += dbias[:, None]
    dt = v
    if SOFTPLUS:
        dt = _softplus(v)
    return v, tl.where(mask, dt, 0.0)


@triton.jit
def _rows(pid_b, offs_k, s_b, s_d):
    """(BLOCK_D, 1) element offsets of this program's channel rows, in int64: batch x d x L may pass 2**31."""
    return pid_b.to(tl.int64) * s_b + offs_k[:, None].to(tl.int64) * s_d


@triton.jit
def _block(dim, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr):
    """This program's channel offsets / mask (BLOCK_D,), state offsets (BLOCK_N,), step offsets (CHUNK,)."""
    offs_k = tl.program_id(0) * BLOCK_D + tl.arange(0, BLOCK_D)
    return offs_k, offs_k < dim, tl.arange(0, BLOCK_N), tl.arange(0, CHUNK)


@triton.jit
def _channel_vectors(D_ptr, dbias_ptr, offs_k, mask_k, BLOCK_D: tl.constexpr, HAS_D: tl.constexpr,
                     HAS_DBIAS: tl.constexpr):
    """D and delta_bias (BLOCK_D,) fp32; zeros where absent."""
    Dv = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dbias = tl.zeros((BLOCK_D,), dtype=tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_k, mask=mask_k, other=0.0).to(tl.float32)
    if HAS_DBIAS:
        dbias = tl.load(dbias_ptr + offs_k, mask=mask_k, other=0.0).to(tl.float32)
    return Dv, dbias


@triton.jit(do_not_specialize=_SIZES)
def _chunked_scan_fwd_seg_kernel(
    # pointers
    u_ptr, delta_ptr, A_ptr, B_ptr, dbias_ptr, seg_decay_ptr, seg_h_ptr,
    # dims
    dim, seqlen, dstate, dpg, n_chunks, chunks_per_seg,
    # strides: u/delta (b, d, l); B (b, g, n, l); A (d, n); segment maps (b, d, S, n)
    s_u_b, s_u_d, s_u_l,
    s_bc_b, s_bc_g, s_bc_n, s_bc_l,
    s_A_d, s_A_n,
    s_sg_b, s_sg_d, s_sg_s,
    # meta
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr,
    HAS_DBIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
):
    """Segment pid(2) (of all but the last): decay exp2(A2 sum delta) and the state reached from
    zero, sum_t exp2(A2 sfx_t) B_t delta_t u_t (sfx_t: sum of delta after t in the segment)."""
    offs_k, mask_k, offs_n, offs_t = _block(dim, BLOCK_D, BLOCK_N, CHUNK)
    pid_b = tl.program_id(1)
    seg = tl.program_id(2)
    mask_kn = mask_k[:, None] & (offs_n < dstate)[None, :]
    no_D, dbias = _channel_vectors(dbias_ptr, dbias_ptr, offs_k, mask_k, BLOCK_D, False, HAS_DBIAS)
    grp = (tl.program_id(0) * BLOCK_D) // dpg  # the launcher keeps every block inside one group
    rows = _rows(pid_b, offs_k, s_u_b, s_u_d)
    u_rows, delta_rows = u_ptr + rows, delta_ptr + rows
    b_row = B_ptr + pid_b.to(tl.int64) * s_bc_b + grp * s_bc_g
    c0 = seg * chunks_per_seg
    c1 = tl.minimum(c0 + chunks_per_seg, n_chunks)
    after = tl.zeros((BLOCK_D,), dtype=tl.float32)  # sum of delta over the later chunks
    h_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    rev = CHUNK - 1 - offs_t  # steps in reversed order: a forward cumsum is then a suffix sum
    for cc in range(c0, c1):
        c = c1 - 1 - (cc - c0)
        t = c * CHUNK + rev
        mask_t = t < seqlen
        m = mask_k[:, None] & mask_t[None, :]
        tt = t[None, :] * s_u_l
        u = tl.load(u_rows + tt, mask=m, other=0.0).to(tl.float32)
        v_in, dt = _delta(delta_rows, tt, m, dbias, HAS_DBIAS, SOFTPLUS)
        dtu = dt * u
        sfx = tl.cumsum(dt, axis=1) - dt + after[:, None]
        after += tl.sum(dt, axis=1)
        for n in range(0, dstate):
            A2 = tl.load(A_ptr + offs_k * s_A_d + n * s_A_n, mask=mask_k, other=0.0).to(tl.float32) * _LOG2E
            Bn = tl.load(b_row + n * s_bc_n + t * s_bc_l, mask=mask_t, other=0.0).to(tl.float32)
            hc = tl.sum(tl.exp2(A2[:, None] * sfx) * (Bn[None, :] * dtu), axis=1)
            h_acc = tl.where(offs_n[None, :] == n, h_acc + hc[:, None], h_acc)
    A2t = tl.load(A_ptr + offs_k[:, None] * s_A_d + offs_n[None, :] * s_A_n, mask=mask_kn, other=0.0)
    sg = pid_b * s_sg_b + offs_k[:, None] * s_sg_d + seg * s_sg_s + offs_n[None, :]
    tl.store(seg_decay_ptr + sg, tl.exp2(A2t.to(tl.float32) * _LOG2E * after[:, None]), mask=mask_kn)
    tl.store(seg_h_ptr + sg, h_acc, mask=mask_kn)


@triton.jit(do_not_specialize=_SIZES)
def _chunked_scan_fwd_kernel(
    # pointers
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, dbias_ptr, h0_ptr, seg_decay_ptr, seg_h_ptr,
    out_ptr, ckpt_ptr, seg_init_ptr,
    # dims
    dim, seqlen, dstate, dpg, n_chunks, chunks_per_seg,
    # strides: u/delta/z/out (b, d, l); B/C (b, g, n, l); A (d, n); h0 (b, d, n);
    # ckpt (chunk, b, d, n); segment maps / initial states (b, d, S, n). n is contiguous in the last two.
    s_u_b, s_u_d, s_u_l,
    s_bc_b, s_bc_g, s_bc_n, s_bc_l,
    s_A_d, s_A_n,
    s_h_b, s_h_d, s_h_n,
    s_ck_c, s_ck_b, s_ck_d,
    s_sg_b, s_sg_d, s_sg_s,
    # meta
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_DBIAS: tl.constexpr, HAS_H0: tl.constexpr,
    SOFTPLUS: tl.constexpr,
):
    offs_k, mask_k, offs_n, offs_t = _block(dim, BLOCK_D, BLOCK_N, CHUNK)
    pid_b = tl.program_id(1)
    seg = tl.program_id(2)
    mask_kn = mask_k[:, None] & (offs_n < dstate)[None, :]
    Dv, dbias = _channel_vectors(D_ptr, dbias_ptr, offs_k, mask_k, BLOCK_D, HAS_D, HAS_DBIAS)
    grp = (tl.program_id(0) * BLOCK_D) // dpg
    c0 = seg * chunks_per_seg
    c1 = tl.minimum(c0 + chunks_per_seg, n_chunks)

    # This segment's initial state: h0 carried through the maps of the segments before it.
    if HAS_H0:
        h = tl.load(h0_ptr + pid_b * s_h_b + offs_k[:, None] * s_h_d + offs_n[None, :] * s_h_n,
                    mask=mask_kn, other=0.0).to(tl.float32)
    else:
        h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    sg_kn = pid_b * s_sg_b + offs_k[:, None] * s_sg_d + offs_n[None, :]
    for j in range(0, seg):
        h = tl.load(seg_decay_ptr + sg_kn + j * s_sg_s, mask=mask_kn, other=0.0) * h + tl.load(
            seg_h_ptr + sg_kn + j * s_sg_s, mask=mask_kn, other=0.0)
    tl.store(seg_init_ptr + sg_kn + seg * s_sg_s, h, mask=mask_kn)
    ck_k = pid_b * s_ck_b + offs_k * s_ck_d  # (BLOCK_D,)
    if seg == 0:
        tl.store(ckpt_ptr + ck_k[:, None] + offs_n[None, :], h, mask=mask_kn)
    tl.debug_barrier()

    rows = _rows(pid_b, offs_k, s_u_b, s_u_d)  # (BLOCK_D, 1)
    u_rows, delta_rows, z_rows, out_rows = u_ptr + rows, delta_ptr + rows, z_ptr + rows, out_ptr + rows
    b_row = B_ptr + pid_b.to(tl.int64) * s_bc_b + grp * s_bc_g
    c_row = C_ptr + pid_b.to(tl.int64) * s_bc_b + grp * s_bc_g
    is_last = (offs_t == CHUNK - 1)[None, :]
    for c in range(c0, c1):
        t = c * CHUNK + offs_t
        mask_t = t < seqlen
        m = mask_k[:, None] & mask_t[None, :]
        tt = t[None, :] * s_u_l
        v_in, dt = _delta(delta_rows, tt, m, dbias, HAS_DBIAS, SOFTPLUS)
        dtu = dt * tl.load(u_rows + tt, mask=m, other=0.0).to(tl.float32)
        y = tl.zeros((BLOCK_D, CHUNK), dtype=tl.float32)
        # Chunk-start states: the segment's initial state, else the previous chunk's carry.
        h_in = tl.where(c == c0, seg_init_ptr + pid_b * s_sg_b + offs_k * s_sg_d + seg * s_sg_s,
                        ckpt_ptr + c * s_ck_c + ck_k)
        h_out = ckpt_ptr + (c + 1) * s_ck_c + ck_k
        for n in range(0, dstate):
            A2 = tl.load(A_ptr + offs_k * s_A_d + n * s_A_n, mask=mask_k, other=0.0).to(tl.float32) * _LOG2E
            hn = tl.load(h_in + n, mask=mask_k, other=0.0)
            Bn = tl.load(b_row + n * s_bc_n + t * s_bc_l, mask=mask_t, other=0.0).to(tl.float32)
            Cn = tl.load(c_row + n * s_bc_n + t * s_bc_l, mask=mask_t, other=0.0).to(tl.float32)
            a = tl.exp2(dt * A2[:, None])
            a_cum, x_cum = tl.associative_scan((a, Bn[None, :] * dtu), axis=1, combine_fn=_linear_combine)
            hs = a_cum * hn[:, None] + x_cum
            y += Cn[None, :] * hs
            # The carry: the owner of the last step writes it (padded steps are identity maps).
            tl.store(h_out[:, None] + n + (offs_t - (CHUNK - 1))[None, :], hs, mask=mask_k[:, None] & is_last)
        # Inputs used only after the state loop are (re)loaded here, not kept in registers through it.
        if HAS_D:
            y += Dv[:, None] * tl.load(u_rows + tt, mask=m, other=0.0).to(tl.float32)
        if HAS_Z:
            zz = tl.load(z_rows + tt, mask=m, other=0.0).to(tl.float32)
            y *= zz * tl.sigmoid(zz)
        tl.store(out_rows + tt, y.to(out_ptr.dtype.element_ty), mask=m)
        tl.debug_barrier()  # the carries written above are read by every thread in the next chunk


@triton.jit(do_not_specialize=_SIZES)
def _chunked_scan_bwd_seg_kernel(
    # pointers
    delta_ptr, A_ptr, C_ptr, z_ptr, dbias_ptr, dout_ptr, seg_decay_ptr, seg_g_ptr,
    # dims
    dim, seqlen, dstate, dpg, n_chunks, chunks_per_seg,
    # strides: delta/z/dout (b, d, l); C (b, g, n, l); A (d, n); segment maps (b, d, S, n)
    s_u_b, s_u_d, s_u_l,
    s_bc_b, s_bc_g, s_bc_n, s_bc_l,
    s_A_d, s_A_n,
    s_sg_b, s_sg_d, s_sg_s,
    # meta
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr,
    HAS_Z: tl.constexpr, HAS_DBIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
):
    """Segment pid(2) + 1 (all but the first): decay exp2(A2 sum delta) and the adjoint it passes to
    its left from a zero carry, sum_t exp2(A2 pfx_t) C_t dy_t (pfx_t: sum of delta up to t, inclusive)."""
    offs_k, mask_k, offs_n, offs_t = _block(dim, BLOCK_D, BLOCK_N, CHUNK)
    pid_b = tl.program_id(1)
    seg = tl.program_id(2) + 1
    mask_kn = mask_k[:, None] & (offs_n < dstate)[None, :]
    no_D, dbias = _channel_vectors(dbias_ptr, dbias_ptr, offs_k, mask_k, BLOCK_D, False, HAS_DBIAS)
    grp = (tl.program_id(0) * BLOCK_D) // dpg
    rows = _rows(pid_b, offs_k, s_u_b, s_u_d)
    delta_rows, z_rows, dout_rows = delta_ptr + rows, z_ptr + rows, dout_ptr + rows
    c_row = C_ptr + pid_b.to(tl.int64) * s_bc_b + grp * s_bc_g
    c0 = seg * chunks_per_seg
    c1 = tl.minimum(c0 + chunks_per_seg, n_chunks)
    before = tl.zeros((BLOCK_D,), dtype=tl.float32)
    g_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    for c in range(c0, c1):
        t = c * CHUNK + offs_t
        mask_t = t < seqlen
        m = mask_k[:, None] & mask_t[None, :]
        tt = t[None, :] * s_u_l
        v_in, dt = _delta(delta_rows, tt, m, dbias, HAS_DBIAS, SOFTPLUS)
        dy = tl.load(dout_rows + tt, mask=m, other=0.0).to(tl.float32)
        if HAS_Z:
            zz = tl.load(z_rows + tt, mask=m, other=0.0).to(tl.float32)
            dy *= zz * tl.sigmoid(zz)
        pfx = tl.cumsum(dt, axis=1) + before[:, None]
        before += tl.sum(dt, axis=1)
        for n in range(0, dstate):
            A2 = tl.load(A_ptr + offs_k * s_A_d + n * s_A_n, mask=mask_k, other=0.0).to(tl.float32) * _LOG2E
            Cn = tl.load(c_row + n * s_bc_n + t * s_bc_l, mask=mask_t, other=0.0).to(tl.float32)
            gc = tl.sum(tl.exp2(A2[:, None] * pfx) * (Cn[None, :] * dy), axis=1)
            g_acc = tl.where(offs_n[None, :] == n, g_acc + gc[:, None], g_acc)
    A2t = tl.load(A_ptr + offs_k[:, None] * s_A_d + offs_n[None, :] * s_A_n, mask=mask_kn, other=0.0)
    sg = pid_b * s_sg_b + offs_k[:, None] * s_sg_d + seg * s_sg_s + offs_n[None, :]
    tl.store(seg_decay_ptr + sg, tl.exp2(A2t.to(tl.float32) * _LOG2E * before[:, None]), mask=mask_kn)
    tl.store(seg_g_ptr + sg, g_acc, mask=mask_kn)


@triton.jit(do_not_specialize=_SIZES)
def _chunked_scan_bwd_kernel(
    # pointers
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, dbias_ptr, ckpt_ptr, seg_decay_ptr, seg_g_ptr,
    dout_ptr, dlast_ptr,
    du_ptr, ddelta_ptr, dz_ptr, dA_ptr, dB_ptr, dC_ptr, dD_ptr, ddbias_ptr, carry_ptr, seg_carry_ptr,
    # dims
    dim, seqlen, dstate, dpg, n_chunks, chunks_per_seg,
    # strides: u-like (u, delta, z, dout, du, ddelta, dz); B/C-like (B, C, dB, dC); A (d, n);
    # dlast (b, d, n); ckpt / carries (chunk, b, d, n); segment maps (b, d, S, n);
    # dA partials (S, b, d, n) and dD / ddelta_bias partials (S, b, d). n is contiguous where it is last.
    s_u_b, s_u_d, s_u_l,
    s_bc_b, s_bc_g, s_bc_n, s_bc_l,
    s_A_d, s_A_n,
    s_h_b, s_h_d, s_h_n,
    s_ck_c, s_ck_b, s_ck_d,
    s_sg_b, s_sg_d, s_sg_s,
    s_pa_s, s_pa_b, s_pa_d,
    s_pv_s, s_pv_b,
    # meta
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_DBIAS: tl.constexpr, HAS_DLAST: tl.constexpr,
    SOFTPLUS: tl.constexpr, SAFE_REVERSE: tl.constexpr,
):
    offs_k, mask_k, offs_n, offs_t = _block(dim, BLOCK_D, BLOCK_N, CHUNK)
    pid_b = tl.program_id(1)
    seg = tl.program_id(2)
    n_segs = tl.num_programs(2)
    mask_kn = mask_k[:, None] & (offs_n < dstate)[None, :]
    Dv, dbias = _channel_vectors(D_ptr, dbias_ptr, offs_k, mask_k, BLOCK_D, HAS_D, HAS_DBIAS)
    grp = (tl.program_id(0) * BLOCK_D) // dpg
    c0 = seg * chunks_per_seg
    c1 = tl.minimum(c0 + chunks_per_seg, n_chunks)

    # The adjoint entering this segment from the right: dlast through the later segments' maps.
    if HAS_DLAST:
        carry = tl.load(dlast_ptr + pid_b * s_h_b + offs_k[:, None] * s_h_d + offs_n[None, :] * s_h_n,
                      mask=mask_kn, other=0.0).to(tl.float32)
    else:
        carry = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    sg_kn = pid_b * s_sg_b + offs_k[:, None] * s_sg_d + offs_n[None, :]
    for jj in range(0, n_segs - 1 - seg):
        j = n_segs - 1 - jj
        carry = tl.load(seg_decay_ptr + sg_kn + j * s_sg_s, mask=mask_kn, other=0.0) * carry + tl.load(
            seg_g_ptr + sg_kn + j * s_sg_s, mask=mask_kn, other=0.0)
    tl.store(seg_carry_ptr + sg_kn + seg * s_sg_s, carry, mask=mask_kn)
    tl.debug_barrier()

    rows = _rows(pid_b, offs_k, s_u_b, s_u_d)
    u_rows, delta_rows, z_rows, dout_rows = u_ptr + rows, delta_ptr + rows, z_ptr + rows, dout_ptr + rows
    bc_off = pid_b.to(tl.int64) * s_bc_b + grp * s_bc_g
    ck_k = pid_b * s_ck_b + offs_k * s_ck_d
    is_first = (offs_t == 0)[None, :]
    last_hot = tl.where(offs_t == CHUNK - 1, 1.0, 0.0)[None, :]
    pos = tl.zeros((BLOCK_D, CHUNK), dtype=tl.int32) + offs_t[None, :]
    dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    ddb_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dA_row = dA_ptr + seg * s_pa_s + pid_b * s_pa_b + offs_k * s_pa_d  # (BLOCK_D,)
    for cc in range(c0, c1):
        c = c1 - 1 - (cc - c0)
        t = c * CHUNK + offs_t
        mask_t = t < seqlen
        m = mask_k[:, None] & mask_t[None, :]
        tt = t[None, :] * s_u_l
        v_in, dt = _delta(delta_rows, tt, m, dbias, HAS_DBIAS, SOFTPLUS)
        dtu = dt * tl.load(u_rows + tt, mask=m, other=0.0).to(tl.float32)
        dy = tl.load(dout_rows + tt, mask=m, other=0.0).to(tl.float32)
        if HAS_Z:
            zz = tl.load(z_rows + tt, mask=m, other=0.0).to(tl.float32)
            dy *= zz * tl.sigmoid(zz)
            y = tl.zeros((BLOCK_D, CHUNK), dtype=tl.float32)
        # delta at t + 1 inside the chunk (a_{t+1}); the step after the chunk enters through the carry.
        m1 = m & ((offs_t < CHUNK - 1) & (t + 1 < seqlen))[None, :]
        v_next, dt1 = _delta(delta_rows, tt + s_u_l, m1, dbias, HAS_DBIAS, SOFTPLUS)
        lam_b = tl.zeros((BLOCK_D, CHUNK), dtype=tl.float32)  # sum_n lam B
        a_q = tl.zeros((BLOCK_D, CHUNK), dtype=tl.float32)  # sum_n A lam (h - x)
        h_in = ckpt_ptr + c * s_ck_c + ck_k
        lam_in = tl.where(c == c1 - 1, seg_carry_ptr + pid_b * s_sg_b + offs_k * s_sg_d + seg * s_sg_s,
                          carry_ptr + (c + 1) * s_ck_c + ck_k)
        lam_out = carry_ptr + c * s_ck_c + ck_k
        for n in range(0, dstate):
            An = tl.load(A_ptr + offs_k * s_A_d + n * s_A_n, mask=mask_k, other=0.0).to(tl.float32)
            A2 = An * _LOG2E
            hn = tl.load(h_in + n, mask=mask_k, other=0.0)
            lam_n = tl.load(lam_in + n, mask=mask_k, other=0.0)
            Bn = tl.load(B_ptr + bc_off + n * s_bc_n + t * s_bc_l, mask=mask_t, other=0.0).to(tl.float32)
            Cn = tl.load(C_ptr + bc_off + n * s_bc_n + t * s_bc_l, mask=mask_t, other=0.0).to(tl.float32)
            # Recompute the states from the chunk-start checkpoint.
            a = tl.exp2(dt * A2[:, None])
            x = Bn[None, :] * dtu
            a_cum, x_cum = tl.associative_scan((a, x), axis=1, combine_fn=_linear_combine)
            hs = a_cum * hn[:, None] + x_cum
            if HAS_Z:
                y += Cn[None, :] * hs
            # Adjoint, right to left: lam_t = C_t dy_t + a_{t+1} lam_{t+1}, with a_{t+1} = 1 at the
            # chunk's last step, where the carry from the next chunk enters (added to g there).
            a_next = tl.exp2(dt1 * A2[:, None])
            g = Cn[None, :] * dy + last_hot * lam_n[:, None]
            if SAFE_REVERSE:
                r_cum, lam, r_pos = tl.associative_scan(
                    (a_next, g, pos), axis=1, combine_fn=_reverse_combine_by_position, reverse=True)
            else:
                r_cum, lam = tl.associative_scan((a_next, g), axis=1, combine_fn=_linear_combine, reverse=True)
            tl.store(lam_out[:, None] + n + offs_t[None, :], a * lam, mask=mask_k[:, None] & is_first)
            lam_b += lam * Bn[None, :]
            q = lam * (hs - x)  # lam_t a_t h_{t-1}
            a_q += An[:, None] * q
            tl.atomic_add(dA_row + n, tl.sum(q * dt, axis=1), mask=mask_k, sem="relaxed")
            bc_t = bc_off + n * s_bc_n + t * s_bc_l
            tl.atomic_add(dB_ptr + bc_t, tl.sum(lam * dtu, axis=0), mask=mask_t, sem="relaxed")
            tl.atomic_add(dC_ptr + bc_t, tl.sum(hs * dy, axis=0), mask=mask_t, sem="relaxed")
        # Inputs used only after the state loop are reloaded here, not kept in registers through it.
        u = tl.load(u_rows + tt, mask=m, other=0.0).to(tl.float32)
        du = dt * lam_b
        ddt = u * lam_b + a_q
        if HAS_D:
            du += Dv[:, None] * dy
            dD_acc += tl.sum(dy * u, axis=1)
        if SOFTPLUS:
            v, dt_again = _delta(delta_rows, tt, m, dbias, HAS_DBIAS, False)
            ddt = tl.where(v <= _SOFTPLUS_THRESHOLD, ddt * tl.sigmoid(v), ddt)
        ddt = tl.where(m, ddt, 0.0)
        ddb_acc += tl.sum(ddt, axis=1)
        if HAS_Z:
            if HAS_D:
                y += Dv[:, None] * u
            g_out = tl.load(dout_rows + tt, mask=m, other=0.0).to(tl.float32)
            zz = tl.load(z_rows + tt, mask=m, other=0.0).to(tl.float32)
            sig = tl.sigmoid(zz)
            tl.store(dz_ptr + rows + tt, (g_out * y * sig * (1.0 + zz * (1.0 - sig))).to(dz_ptr.dtype.element_ty), mask=m)
        tl.store(du_ptr + rows + tt, du.to(du_ptr.dtype.element_ty), mask=m)
        tl.store(ddelta_ptr + rows + tt, ddt.to(ddelta_ptr.dtype.element_ty), mask=m)
        tl.debug_barrier()  # the carries written above are read by every thread in the next chunk
    p = seg * s_pv_s + pid_b * s_pv_b + offs_k
    tl.store(dD_ptr + p, dD_acc, mask=mask_k)
    tl.store(ddbias_ptr + p, ddb_acc, mask=mask_k)
