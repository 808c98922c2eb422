"""Fast CPU selective scan: numba loops (forward + hand-written backward) behind an autograd Function.

Layers (as in the Triton path):
    ``_scan_fwd_loop`` / ``_scan_bwd_loop``  numba ``@njit(parallel=True)`` loops over float arrays;
    ``_selective_scan_cpu_fwd`` / ``SelectiveScanCpuFn.backward``  launchers: layout, dtype,
                                                allocation; no autograd;
    ``SelectiveScanCpuFn``                      ties them together for autograd;
    ``selective_scan_cpu``                      public function (called by the dispatch).

Layout: the public contract is mamba's (batch, d, L), but the loops run channel-last: u, delta,
z and the outputs are (batch, L, d) and B, C are (batch, L, g, n), so the state index ``n`` is
innermost and contiguous and each time step touches adjacent channels. The model passes
transposed views of its (batch, L, d) activations, and z, B, C as column slices of its
projections; the loops read all of them in place (any row stride, unit stride along channels /
states), so no layout change copies anything. Outputs and gradients come back as (batch, d, L)
views of channel-last memory. Parallelism is over (batch, block of channels) on numba's threads
(as many as torch uses); time is sequential, in CHECKPOINT-step tiles.

Each tile has three passes:
    1. across the tile's adjacent channels (vectorised): delta + bias and softplus, and in the
       backward the gate's derivatives (silu(z), dz) and dD;
    2. channel by channel along time, the recurrence over the n states (vectorised over n);
    3. across channels again: the silu(z) gate of the output, or in the backward softplus'
       derivative and the bias gradient.
So the per-(step, channel) transcendentals (softplus, the gate's sigmoid) run 8 wide like the
per-state decays instead of as scalar libm calls. float32 scans use ``_exp_f32``, a vectorisable
exp (numba's ``math.exp`` is a scalar libm call: numba vectorises it only through Intel's SVML,
which PyPI's llvmlite is not built with); float64 scans keep libm.

The backward never stores per-step states: the forward keeps the state at the start of every
``CHECKPOINT``-step chunk (and, when gated, the pre-gate output y), and the backward recomputes
one chunk of one channel at a time, keeping that chunk's decays for the adjoint recurrence
(Gu & Dao 2023, Sec. 3.3.2 "recomputation")::

    lam_t = C_t dy_t + a_{t+1} lam_{t+1},   lam_{L-1} = C_{L-1} dy_{L-1} + d(last_state)

dB / dC of a chunk are summed over the block's channels in a chunk buffer and written once; dA,
dD and the bias gradient stay per channel until the end. Memory is O(batch * d * n * L /
CHECKPOINT) for the checkpoints, plus per-block partial sums of dB / dC (grouped channels share
B and C, so their gradients are reduced over the group).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from genomamba.kernels.reference import SOFTPLUS_THRESHOLD
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload
from torch import Tensor

# Steps between stored states. 64 keeps the recompute buffers (64 x n) in L1 and the
# checkpoints at 1/64 of a full per-step state history.
CHECKPOINT = 64
# numba compiles module globals in as constants; float32 copies keep float32 arithmetic float32.
_SOFTPLUS_THRESHOLD = SOFTPLUS_THRESHOLD
_THRESHOLD_F32 = np.float32(SOFTPLUS_THRESHOLD)
_ZERO_F32 = np.float32(0.0)
_ONE_F32 = np.float32(1.0)
_TWO_F32 = np.float32(2.0)


# ---------------------------------------------------------------- vectorisable float32 math
@intrinsic
def _trunc_f32(typingctx, x):  # pragma: no cover - compiled
    """float32 rounded toward zero through a 32-bit int (8 lanes on AVX2; a 64-bit int is not)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.sitofp(builder.fptosi(args[0], ir.IntType(32)), ir.FloatType())

    return types.float32(types.float32), codegen


@intrinsic
def _pow2_f32(typingctx, k):  # pragma: no cover - compiled
    """2 ** k for an integer-valued float32 k in [-126, 127], written straight into the exponent bits."""
    if k != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        bits = builder.shl(builder.add(builder.fptosi(args[0], i32), ir.Constant(i32, 127)), ir.Constant(i32, 23))
        return builder.bitcast(bits, ir.FloatType())

    return types.float32(types.float32), codegen


@intrinsic
def _where(typingctx, cond, a, b):  # pragma: no cover - compiled
    """``a if cond else b`` as one LLVM select: vectorises, and unlike a conditional expression
    adds no branch to the numba IR of the loops this is inlined into."""
    if not isinstance(cond, types.Boolean) or a != b:
        return None

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return a(cond, a, b), codegen


@njit(inline="always")
def _exp_f32(x):  # pragma: no cover - compiled
    """exp(x) in float32 with only multiply-adds, selects and bit moves, so loops vectorise.

    Cephes' ``expf`` scheme (S. L. Moshier, Cephes Math Library, 1984-2000; its published
    coefficients): x = k ln2 + r with |r| <= ln2 / 2 (ln2 split in two for an exact reduction),
    exp(r) by a degree-7 minimax polynomial, times 2^k from the exponent bits. Relative error
    below 1e-7 (about 1.4 ulp) on [-87.3, 88.7]; 0 below (float32 underflow, denormals flushed),
    inf above; NaN stays NaN.
    """
    v = x * np.float32(1.4426950408889634)  # x / ln2
    v = _where(v > np.float32(-126.0), v, np.float32(-126.0))  # NaN -> -126; r keeps the NaN
    v = _where(v < np.float32(127.0), v, np.float32(127.0))
    k = _trunc_f32(v + np.float32(126.5)) - np.float32(126.0)  # round(v): the argument is > 0
    r = x - k * np.float32(0.693359375)
    r = r - k * np.float32(-2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * (r * r) + r + _ONE_F32
    res = p * _pow2_f32(k)
    res = _where(x < np.float32(-87.33654), _ZERO_F32, res)
    return _where(x > np.float32(88.72283), np.float32(np.inf), res)


@njit(inline="always")
def _log1p_unit_f32(w):  # pragma: no cover - compiled
    """log1p(w) for w in [0, 1], float32: 2 atanh(s) with s = w / (2 + w) <= 1/3, odd series to
    s^13 (truncation < 2e-8 relative); exact to rounding as w -> 0, where log1p(w) ~ w."""
    s = w / (_TWO_F32 + w)
    s2 = s * s
    p = np.float32(1.0 / 13.0)
    p = p * s2 + np.float32(1.0 / 11.0)
    p = p * s2 + np.float32(1.0 / 9.0)
    p = p * s2 + np.float32(1.0 / 7.0)
    p = p * s2 + np.float32(1.0 / 5.0)
    p = p * s2 + np.float32(1.0 / 3.0)
    return _TWO_F32 * s * (p * s2 + _ONE_F32)


def _exp(x: float) -> float:
    return math.exp(x)


# inline="always" (here and below): numba compiles a called function apart, where LLVM cannot
# inline it into the loop before vectorising; inlined in numba's IR, the loop vectorises.
@overload(_exp, inline="always")
def _exp_ov(x):  # pragma: no cover - compiled
    if x == types.float32:
        return lambda x: _exp_f32(x)
    return lambda x: math.exp(x)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@overload(_sigmoid, inline="always")
def _sigmoid_ov(x):  # pragma: no cover - compiled
    if x == types.float32:
        return lambda x: _ONE_F32 / (_ONE_F32 + _exp_f32(-x))
    return lambda x: 1.0 / (1.0 + math.exp(-x))


def _softplus(v: float) -> float:
    return v if v > SOFTPLUS_THRESHOLD else math.log1p(math.exp(v))


@overload(_softplus, inline="always")
def _softplus_ov(v):  # pragma: no cover - compiled
    """softplus with torch's threshold (above it: v itself, as every backend does)."""
    if v == types.float32:

        def impl(v):
            # log1p(exp(v)) = max(v, 0) + log1p(exp(-|v|)); the log1p argument lies in (0, 1]
            sp = _where(v > _ZERO_F32, v, _ZERO_F32) + _log1p_unit_f32(_exp_f32(-abs(v)))
            return _where(v > _THRESHOLD_F32, v, sp)

        return impl
    return lambda v: _where(v > _SOFTPLUS_THRESHOLD, v, math.log1p(math.exp(v)))


def _typed(value: float, arr: np.ndarray) -> float:
    return arr.dtype.type(value)


@overload(_typed, inline="always")
def _typed_ov(value, arr):  # pragma: no cover - compiled
    """``value`` in ``arr``'s float type (a bare 0.0 would turn float32 sums into float64 ones)."""
    cast = np.float32 if arr.dtype == types.float32 else np.float64
    return lambda value, arr: cast(value)


# ------------------------------------------------------------------------------- the loops
# "reassoc" lets the n-loop sums vectorise; "nnan"/"ninf" stay off so NaN and Inf propagate.
# error_model="numpy": a float division by zero gives inf / nan instead of raising, so divisions
# (the sigmoids) carry no check-and-raise branch, which would keep their loops scalar.
@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _scan_fwd_loop(
    u, delta, A, Bt, Ct, D, z, zoff, dbias, h0, has_z, softplus, save_ckpt, blocks, out, ysave, last, ckpt
):  # pragma: no cover - compiled
    """Channel-last: u, delta, out, ysave (b, L, d), z (b, L, >= zoff + d) read at columns zoff..;
    z, ysave are dummies when unused; Bt, Ct
    (b, L, g, n); A (d, n); D, dbias (d,); h0, last (b, d, n); ckpt (b, d, n_chunks, n).
    ``save_ckpt``: write the chunk-start states, and the pre-gate output y to ``ysave`` when gated.
    ``blocks`` (n_blocks, 2): [start, end) channel ranges inside one group."""
    nb, L, nd = u.shape
    n = A.shape[1]
    dpg = nd // Bt.shape[2]
    nblk = blocks.shape[0]
    save_y = save_ckpt and has_z
    for idx in prange(nb * nblk):
        b = idx // nblk
        c0 = blocks[idx % nblk, 0]
        c1 = blocks[idx % nblk, 1]
        nc = c1 - c0
        g = c0 // dpg
        states = np.empty((nc, n), u.dtype)
        dtb = np.empty((CHECKPOINT, nc), u.dtype)  # the tile's step sizes
        brow = dbias[c0:c1]
        for cc in range(nc):
            states[cc, :] = h0[b, c0 + cc]
        for t0 in range(0, L, CHECKPOINT):
            t1 = min(t0 + CHECKPOINT, L)
            # Channel passes index row views from 0: numba then knows the index is not negative
            # (no wrap-around select per element), which LLVM needs to vectorise the loop.
            for t in range(t0, t1):  # pass 1: step sizes, across channels
                drow = delta[b, t, c0:c1]
                dtr = dtb[t - t0]
                for cc in range(nc):
                    v = drow[cc] + brow[cc]
                    dtr[cc] = _softplus(v) if softplus else v
            for cc in range(nc):  # pass 2: the recurrence, channel by channel
                c = c0 + cc
                h = states[cc]
                if save_ckpt:
                    ckpt[b, c, t0 // CHECKPOINT, :] = h
                Ac = A[c]
                Dc = D[c]
                for t in range(t0, t1):
                    dt = dtb[t - t0, cc]
                    ut = u[b, t, c]
                    dtu = dt * ut
                    for i in range(n):
                        h[i] = _exp(dt * Ac[i]) * h[i] + dtu * Bt[b, t, g, i]
                    y = Dc * ut
                    for i in range(n):
                        y += Ct[b, t, g, i] * h[i]
                    out[b, t, c] = y
            if has_z:  # pass 3: the gate, across channels
                for t in range(t0, t1):
                    orow = out[b, t, c0:c1]
                    zrow = z[b, t, zoff + c0 : zoff + c1]
                    if save_y:
                        yrow = ysave[b, t, c0:c1]
                        for cc in range(nc):
                            yrow[cc] = orow[cc]
                    for cc in range(nc):
                        zz = zrow[cc]
                        orow[cc] = orow[cc] * zz * _sigmoid(zz)
        for cc in range(nc):
            last[b, c0 + cc, :] = states[cc]


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _scan_bwd_loop(
    u, delta, A, Bt, Ct, D, z, zoff, dbias, ckpt, ysave, dout, dlast, has_z, softplus, blocks,
    du, ddelta, dz, dA_p, dBt_p, dCt_p, dD_p, ddb_p, dh0,
):  # pragma: no cover - compiled
    """Reverse-time adjoint, channel-last like the forward (u, delta, ysave, dout, du, ddelta, dz
    (b, L, d); z (b, L, >= zoff + d)), CHECKPOINT-step chunks from the last to the first. ``blocks`` (n_blocks, 2)
    holds [start, end) channel ranges, each inside one group; dBt_p / dCt_p (b, n_blocks, L, n)
    are per-block partial sums (reduced by the caller); dA_p (b, d, n), dD_p / ddb_p (b, d) are
    per-batch partials."""
    nb, L, nd = u.shape
    n = A.shape[1]
    dpg = nd // Bt.shape[2]
    nblk = blocks.shape[0]
    n_chunks = ckpt.shape[2]
    dtype = u.dtype
    zero = _typed(0.0, u)
    one = _typed(1.0, u)
    for idx in prange(nb * nblk):
        b = idx // nblk
        k = idx % nblk
        c0 = blocks[k, 0]
        c1 = blocks[k, 1]
        nc = c1 - c0
        g = c0 // dpg
        hbuf = np.empty((CHECKPOINT + 1, n), dtype)  # states of one chunk, hbuf[0] = h_{t0-1}
        abuf = np.empty((CHECKPOINT, n), dtype)  # exp(dt_t * A) of the chunk, reused by the adjoint
        dtb = np.empty((CHECKPOINT, nc), dtype)  # the tile's step sizes
        dyb = np.empty((CHECKPOINT, nc), dtype)  # the tile's d(pre-gate y)
        dBc = np.zeros((CHECKPOINT, n), dtype)  # dB / dC of the chunk, summed over the block
        dCc = np.zeros((CHECKPOINT, n), dtype)
        lams = np.empty((nc, n), dtype)  # adjoint of each channel, carried across chunks
        dAs = np.zeros((nc, n), dtype)
        dDs = np.zeros(nc, dtype)
        dbs = np.zeros(nc, dtype)
        brow = dbias[c0:c1]
        for cc in range(nc):
            lams[cc, :] = dlast[b, c0 + cc]
        for j in range(n_chunks - 1, -1, -1):
            t0 = j * CHECKPOINT
            T = min(CHECKPOINT, L - t0)
            for r in range(T):  # pass 1: step sizes, the gate's derivatives, dD; across channels
                t = t0 + r  # (row views indexed from 0 vectorise: see the forward)
                drow = delta[b, t, c0:c1]
                urow = u[b, t, c0:c1]
                grow = dout[b, t, c0:c1]
                dtr = dtb[r]
                dyr = dyb[r]
                for cc in range(nc):
                    v = drow[cc] + brow[cc]
                    dtr[cc] = _softplus(v) if softplus else v
                if has_z:
                    zrow = z[b, t, zoff + c0 : zoff + c1]
                    yrow = ysave[b, t, c0:c1]
                    dzrow = dz[b, t, c0:c1]
                    for cc in range(nc):
                        zz = zrow[cc]
                        sg = _sigmoid(zz)
                        dzrow[cc] = grow[cc] * yrow[cc] * sg * (one + zz * (one - sg))
                        dyr[cc] = grow[cc] * zz * sg
                else:
                    for cc in range(nc):
                        dyr[cc] = grow[cc]
                for cc in range(nc):
                    dDs[cc] += dyr[cc] * urow[cc]
            for cc in range(nc):  # pass 2: recompute the chunk's states, then the adjoint
                c = c0 + cc
                lam = lams[cc]
                dA = dAs[cc]
                Ac = A[c]
                Dc = D[c]
                hbuf[0, :] = ckpt[b, c, j]
                for r in range(T):
                    t = t0 + r
                    dt = dtb[r, cc]
                    dtu = dt * u[b, t, c]
                    for i in range(n):
                        a = _exp(dt * Ac[i])
                        abuf[r, i] = a
                        hbuf[r + 1, i] = a * hbuf[r, i] + dtu * Bt[b, t, g, i]
                for r in range(T - 1, -1, -1):
                    t = t0 + r
                    dt = dtb[r, cc]
                    ut = u[b, t, c]
                    dtu = dt * ut
                    dy = dyb[r, cc]
                    s_b = zero  # sum_i lam_t,i B_t,i
                    s_a = zero  # sum_i A_i a_t,i lam_t,i h_{t-1},i
                    for i in range(n):
                        lm = lam[i] + dy * Ct[b, t, g, i]  # lam_t
                        dCc[r, i] += dy * hbuf[r + 1, i]
                        dBc[r, i] += lm * dtu
                        s_b += lm * Bt[b, t, g, i]
                        carried = abuf[r, i] * lm  # a_t lam_t, the adjoint carried to t - 1
                        q = carried * hbuf[r, i]
                        s_a += Ac[i] * q
                        dA[i] += dt * q
                        lam[i] = carried
                    du[b, t, c] = Dc * dy + dt * s_b
                    ddelta[b, t, c] = ut * s_b + s_a
            for r in range(T):  # pass 3: softplus' derivative and the bias gradient, across channels
                t = t0 + r
                gdrow = ddelta[b, t, c0:c1]
                if softplus:
                    drow = delta[b, t, c0:c1]
                    for cc in range(nc):
                        v = drow[cc] + brow[cc]
                        gd = gdrow[cc]
                        gdrow[cc] = gd if v > _SOFTPLUS_THRESHOLD else gd * _sigmoid(v)
                for cc in range(nc):
                    dbs[cc] += gdrow[cc]
            for r in range(T):
                dBt_p[b, k, t0 + r, :] = dBc[r]
                dCt_p[b, k, t0 + r, :] = dCc[r]
                dBc[r, :] = zero
                dCc[r, :] = zero
        for cc in range(nc):
            c = c0 + cc
            dh0[b, c, :] = lams[cc]
            dA_p[b, c, :] = dAs[cc]
            dD_p[b, c] = dDs[cc]
            ddb_p[b, c] = dbs[cc]


def _channel_blocks(d: int, groups: int, batch: int) -> np.ndarray:
    """Split channels into blocks that never straddle a group, enough of them to feed all threads."""
    dpg = d // groups
    want = max(1, -(-4 * numba.get_num_threads() // (batch * groups)))
    k = min(dpg, want)
    starts = [g * dpg + (s * dpg) // k for g in range(groups) for s in range(k)]
    ends = [g * dpg + ((s + 1) * dpg) // k for g in range(groups) for s in range(k)]
    return np.array([starts, ends], dtype=np.int64).T.copy()


def _use_torch_threads() -> None:
    """Run numba's loops on as many threads as torch uses (``torch.set_num_threads``), within
    the pool numba started with (NUMBA_NUM_THREADS, default all cores)."""
    want = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != want:
        numba.set_num_threads(want)


def _np(x: Tensor) -> np.ndarray:
    return x.detach().contiguous().numpy()


def _rows(x: Tensor) -> tuple[np.ndarray, int]:
    """(b, L, d) with unit channel stride -> (rows (b, L, W) C-contiguous, column offset) such that
    ``rows[:, :, off:off + d]`` is ``x``, without copying when ``x`` is a column slice of a
    contiguous (b, L, W) tensor (z, half of the model's in_proj output); else a compact copy, 0."""
    x = x.detach()
    b, L, d = x.shape
    sb, sL, sc = x.stride()
    if sc == 1 and sL >= d and sb == L * sL and b * L > 0:
        start = x.storage_offset() - x.storage_offset() % sL
        off = x.storage_offset() - start
        if off + d <= sL and start + b * L * sL <= x.untyped_storage().nbytes() // x.element_size():
            return torch.as_strided(x, (b, L, sL), (L * sL, sL, 1), start).numpy(), off
    return x.contiguous().numpy(), 0


def _channel_last(x: Tensor, cdt: torch.dtype) -> Tensor:
    """(b, d, L) -> (b, L, d) in ``cdt``. A view when ``x`` is the transpose of a (b, L, d) tensor
    with unit channel stride (how the model passes its activations, z included), else a copy."""
    return x.transpose(1, 2).to(cdt)


def _bc_channel_last(BC: Tensor, cdt: torch.dtype) -> Tensor:
    """(b, n, L) or (b, g, n, L) -> (b, L, g, n) in ``cdt`` (a view of channel-last inputs)."""
    BC = BC.transpose(1, 2).unsqueeze(2) if BC.dim() == 3 else BC.permute(0, 3, 1, 2)
    return BC.to(cdt)


def _kernel_inputs(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, cdt: torch.dtype,
) -> tuple[np.ndarray, ...]:
    """(u, delta, A, Bt, Ct, D, z, z column offset, dbias) as the loops read them: channel-last,
    in ``cdt``, with zeros / a dummy for absent options. Shared by the forward and the backward
    recompute."""
    d = u.shape[1]
    zeros = lambda *shape: torch.zeros(*shape, dtype=cdt)  # noqa: E731
    z_rows, z_off = _rows(_channel_last(z, cdt)) if z is not None else (_np(zeros(1, 1, 1)), 0)
    return (
        _np(_channel_last(u, cdt)), _np(_channel_last(delta, cdt)), _np(A.to(cdt)),
        _np(_bc_channel_last(B, cdt)), _np(_bc_channel_last(C, cdt)),
        _np(D.to(cdt) if D is not None else zeros(d)),
        z_rows, z_off,
        _np(delta_bias.to(cdt) if delta_bias is not None else zeros(d)),
    )


def _selective_scan_cpu_fwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, initial_state: Tensor | None, save_ckpt: bool,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Returns out (b, d, L) in the compute dtype (a transposed view of a contiguous (b, L, d)
    tensor), last_state (b, d, n), and when ``save_ckpt`` the checkpoints (b, d, ceil(L /
    CHECKPOINT), n) and (gated scans) the pre-gate output y (b, L, d); else None, None."""
    cdt = torch.float64 if u.dtype == torch.float64 else torch.float32
    batch, d, L = u.shape
    n = A.shape[1]
    groups = 1 if B.dim() == 3 else B.shape[1]
    h0 = initial_state.to(cdt) if initial_state is not None else torch.zeros(batch, d, n, dtype=cdt)
    out = torch.empty(batch, L, d, dtype=cdt)
    last = torch.empty(batch, d, n, dtype=cdt)
    dummy = torch.empty(1, 1, 1, dtype=cdt)
    n_chunks = -(-L // CHECKPOINT)
    ckpt = torch.empty(batch, d, n_chunks, n, dtype=cdt) if save_ckpt else dummy[..., None]
    ysave = torch.empty(batch, L, d, dtype=cdt) if save_ckpt and z is not None else dummy
    _use_torch_threads()
    _scan_fwd_loop(
        *_kernel_inputs(u, delta, A, B, C, D, z, delta_bias, cdt),
        _np(h0), z is not None, bool(delta_softplus), save_ckpt,
        _channel_blocks(d, groups, batch), out.numpy(), ysave.numpy(), last.numpy(), ckpt.numpy(),
    )
    if not save_ckpt:
        return out.transpose(1, 2), last, None, None
    return out.transpose(1, 2), last, ckpt, (ysave if z is not None else None)


class SelectiveScanCpuFn(torch.autograd.Function):
    """Autograd wrapper; saves the inputs, the chunk-start states and (gated) the pre-gate output."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state):
        out, last, ckpt, ysave = _selective_scan_cpu_fwd(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
            save_ckpt=any(ctx.needs_input_grad),
        )
        ctx.delta_softplus = delta_softplus
        ctx.meta = (D is not None, z is not None, delta_bias is not None)
        ctx.h0_dtype = initial_state.dtype if initial_state is not None else None
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt, ysave)
        return out.to(u.dtype), last

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A, B, C, D, z, delta_bias, ckpt, ysave = ctx.saved_tensors
        has_D, has_z, has_db = ctx.meta
        cdt = ckpt.dtype
        batch, d, L = u.shape
        n = A.shape[1]
        groups = 1 if B.dim() == 3 else B.shape[1]
        dout_c = _channel_last(dout, cdt) if dout is not None else torch.zeros(batch, L, d, dtype=cdt)
        dlast_c = dlast.to(cdt) if dlast is not None else torch.zeros(batch, d, n, dtype=cdt)
        blocks = _channel_blocks(d, groups, batch)
        nblk = blocks.shape[0]
        du = torch.empty(batch, L, d, dtype=cdt)
        ddelta = torch.empty(batch, L, d, dtype=cdt)
        dummy = torch.empty(1, 1, 1, dtype=cdt)
        dz = torch.empty(batch, L, d, dtype=cdt) if has_z else dummy
        dA_p = torch.empty(batch, d, n, dtype=cdt)
        dBt_p = torch.empty(batch, nblk, L, n, dtype=cdt)
        dCt_p = torch.empty(batch, nblk, L, n, dtype=cdt)
        dD_p = torch.empty(batch, d, dtype=cdt)
        ddb_p = torch.empty(batch, d, dtype=cdt)
        dh0 = torch.empty(batch, d, n, dtype=cdt)
        _use_torch_threads()
        _scan_bwd_loop(
            *_kernel_inputs(u, delta, A, B, C, D, z, delta_bias, cdt),
            _np(ckpt), _np(ysave if ysave is not None else dummy), _np(dout_c), _np(dlast_c), has_z,
            bool(ctx.delta_softplus), blocks,
            du.numpy(), ddelta.numpy(), dz.numpy(), dA_p.numpy(), dBt_p.numpy(), dCt_p.numpy(),
            dD_p.numpy(), ddb_p.numpy(), dh0.numpy(),
        )

        def reduce_bc(p: Tensor, like: Tensor) -> Tensor:
            # (b, g * k, L, n) -> (b, g, n, L), then drop the group axis for ungrouped inputs.
            k = nblk // groups
            g = p.view(batch, groups, k, L, n)
            g = (g[:, :, 0] if k == 1 else g.sum(2)).transpose(-1, -2)
            return (g.squeeze(1) if like.dim() == 3 else g).to(like.dtype)

        return (
            du.transpose(1, 2).to(u.dtype),
            ddelta.transpose(1, 2).to(delta.dtype),
            dA_p.sum(0).to(A.dtype),
            reduce_bc(dBt_p, B),
            reduce_bc(dCt_p, C),
            dD_p.sum(0).to(D.dtype) if has_D else None,
            dz.transpose(1, 2).to(z.dtype) if has_z else None,
            ddb_p.sum(0).to(delta_bias.dtype) if has_db else None,
            None,
            dh0.to(ctx.h0_dtype) if ctx.h0_dtype is not None else None,
        )


def selective_scan_cpu(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
    z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
    return_last_state: bool = False, initial_state: Tensor | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Numba selective scan on CPU tensors; same contract as ``selective_scan_ref``.

    Args:
        u, delta: (batch, d, L).  A: (d, n).  B, C: (batch, n, L) or (batch, g, n, L).
        D, delta_bias: optional (d,).  z: optional (batch, d, L).  initial_state: optional (batch, d, n).

    Returns:
        out (batch, d, L) in u.dtype; with ``return_last_state`` also (batch, d, n) in fp32
        (fp64 for fp64 inputs).
    """
    out, last = SelectiveScanCpuFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state)
    return (out, last) if return_last_state else out


__all__ = ["selective_scan_cpu", "SelectiveScanCpuFn", "CHECKPOINT"]
