"""Fast CPU selective scan: numba loops (forward + hand-written backward) behind an autograd Function.

Layers (as in the Triton path):
    ``_scan_fwd_loop`` / ``_scan_bwd_loop``  numba ``@njit(parallel=True)`` loops over float arrays;
    ``_selective_scan_cpu_fwd/_bwd``           launchers: layout, dtype, allocation; no autograd;
    ``SelectiveScanCpuFn``                      ties them together for autograd;
    ``selective_scan_cpu``                      public function (called by the dispatch).

Layout: the public contract is mamba's (batch, d, L), but the loops run channel-last: u, delta,
z and the outputs are (batch, L, d) and B, C are (batch, L, g, n), so the state index ``n`` is
innermost and contiguous and each time step touches adjacent channels. The model passes
transposed views of its (batch, L, d) activations, which makes the layout change free; a truly
(batch, d, L)-contiguous input is transposed once. Outputs and gradients come back as
(batch, d, L) views of channel-last memory. Parallelism is over (batch, block of channels);
time is sequential, in CHECKPOINT-step tiles walked channel by channel, so each cache line
(adjacent channels of one step) is reused from L1 by the next channels of the tile.

The backward never stores per-step states: the forward keeps the state at the start of every
``CHECKPOINT``-step chunk, and the backward recomputes one chunk of states at a time, then runs
the reverse-time adjoint recurrence (Gu & Dao 2023, Sec. 3.3.2 "recomputation")::

    lam_t = C_t dy_t + a_{t+1} lam_{t+1},   lam_{L-1} = C_{L-1} dy_{L-1} + d(last_state)

Memory is O(batch * d * n * L / CHECKPOINT) for the checkpoints, plus per-block partial sums of
dB / dC (grouped channels share B and C, so their gradients are reduced over the group).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from genomamba.kernels.reference import SOFTPLUS_THRESHOLD
from numba import njit, prange
from torch import Tensor

# Steps between stored states. 64 keeps the recompute buffer (64 x n) in L1 and the
# checkpoints at 1/64 of a full per-step state history.
CHECKPOINT = 64
_SOFTPLUS_THRESHOLD = SOFTPLUS_THRESHOLD  # numba compiles module globals in as constants


@njit(inline="always")
def _delta_t(v: float, softplus: bool) -> float:
    if softplus and v <= _SOFTPLUS_THRESHOLD:
        return math.log1p(math.exp(v))
    return v


@njit(inline="always")
def _exp_vectorisable(x: float) -> float:
    """exp(x) as exp(x / 1024) ** 1024 in float64: a degree-6 Taylor polynomial, then 10 squarings.

    Only multiply-adds, so LLVM vectorises the loop over the state index n (``math.exp`` is a
    scalar libm call; no SVML here). Relative error below 1e-8 for x in [-80, 0], far under
    float32 resolution, so it is used for float32 scans only; float64 scans keep ``math.exp``.
    """
    r = float(x) * (1.0 / 1024.0)
    p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))))
    for _ in range(10):
        p = p * p
    return p


@njit(inline="always")
def _decay(x: float, fast_exp: bool) -> float:
    """exp(delta_t * A): the vectorisable form for float32 scans, libm ``exp`` for float64."""
    return _exp_vectorisable(x) if fast_exp else math.exp(x)


# "reassoc" lets the n-loop sums vectorise; "nnan"/"ninf" stay off so NaN and Inf propagate.
@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _scan_fwd_loop(
    u, delta, A, Bt, Ct, D, z, dbias, h0, has_z, softplus, save_ckpt, fast_exp, blocks, out, last, ckpt
):  # pragma: no cover - compiled
    """Channel-last: u, delta, out (b, L, d); z (b, L, d) or dummy; Bt, Ct (b, L, g, n); A (d, n);
    D, dbias (d,); h0, last (b, d, n); ckpt (b, d, n_chunks, n), written when ``save_ckpt``.
    ``blocks`` (n_blocks, 2): [start, end) channel ranges inside one group. Time runs in tiles of
    CHECKPOINT steps, each tile channel by channel: a tile's cache lines of u / delta / z / out
    hold adjacent channels and are reused while they are still in L1."""
    nb, L, nd = u.shape
    n = A.shape[1]
    dpg = nd // Bt.shape[2]
    nblk = blocks.shape[0]
    for idx in prange(nb * nblk):
        b = idx // nblk
        c0 = blocks[idx % nblk, 0]
        c1 = blocks[idx % nblk, 1]
        g = c0 // dpg
        states = np.empty((c1 - c0, n), u.dtype)
        for c in range(c0, c1):
            states[c - c0, :] = h0[b, c]
        for t0 in range(0, L, CHECKPOINT):
            t1 = min(t0 + CHECKPOINT, L)
            for c in range(c0, c1):
                h = states[c - c0]
                if save_ckpt:
                    ckpt[b, c, t0 // CHECKPOINT, :] = h
                Ac = A[c]
                for t in range(t0, t1):
                    dt = _delta_t(delta[b, t, c] + dbias[c], softplus)
                    ut = u[b, t, c]
                    du = dt * ut
                    for i in range(n):
                        h[i] = _decay(dt * Ac[i], fast_exp) * h[i] + du * Bt[b, t, g, i]
                    y = 0.0
                    for i in range(n):
                        y += Ct[b, t, g, i] * h[i]
                    y += D[c] * ut
                    if has_z:
                        zz = z[b, t, c]
                        y *= zz / (1.0 + math.exp(-zz))
                    out[b, t, c] = y
        for c in range(c0, c1):
            last[b, c, :] = states[c - c0]


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _scan_bwd_loop(
    u, delta, A, Bt, Ct, D, z, dbias, ckpt, dout, dlast, has_z, softplus, fast_exp, blocks,
    du, ddelta, dz, dA_p, dBt_p, dCt_p, dD_p, ddb_p, dh0,
):  # pragma: no cover - compiled
    """Reverse-time adjoint, channel-last like the forward (u, delta, dout, du, ddelta, dz (b, L, d)),
    CHECKPOINT-step chunks from the last to the first, each channel by channel. ``blocks``
    (n_blocks, 2) holds [start, end) channel ranges, each inside one group; dBt_p / dCt_p
    (b, n_blocks, L, n) are per-block partial sums (reduced by the caller); dA_p (b, d, n),
    dD_p / ddb_p (b, d) are per-batch partials."""
    nb, L, nd = u.shape
    n = A.shape[1]
    dpg = nd // Bt.shape[2]
    nblk = blocks.shape[0]
    n_chunks = ckpt.shape[2]
    dtype = u.dtype
    for idx in prange(nb * nblk):
        b = idx // nblk
        k = idx % nblk
        c0 = blocks[k, 0]
        c1 = blocks[k, 1]
        g = c0 // dpg
        hbuf = np.empty((CHECKPOINT + 1, n), dtype)  # states of one chunk, hbuf[0] = h_{t0-1}
        abuf = np.empty((CHECKPOINT, n), dtype)  # exp(dt_t * A) of the chunk, reused by the adjoint
        lams = np.empty((c1 - c0, n), dtype)  # adjoint of each channel, carried across chunks
        for c in range(c0, c1):
            lams[c - c0, :] = dlast[b, c]
            dD_p[b, c] = 0.0
            ddb_p[b, c] = 0.0
        for j in range(n_chunks - 1, -1, -1):
            t0 = j * CHECKPOINT
            t1 = min(t0 + CHECKPOINT, L)
            for c in range(c0, c1):
                lam = lams[c - c0]
                Ac = A[c]
                hbuf[0, :] = ckpt[b, c, j]
                for t in range(t0, t1):
                    dt = _delta_t(delta[b, t, c] + dbias[c], softplus)
                    du_ = dt * u[b, t, c]
                    r = t - t0
                    for i in range(n):
                        a = _decay(dt * Ac[i], fast_exp)
                        abuf[r, i] = a
                        hbuf[r + 1, i] = a * hbuf[r, i] + du_ * Bt[b, t, g, i]
                dD = 0.0
                ddb = 0.0
                for t in range(t1 - 1, t0 - 1, -1):
                    r = t - t0
                    v = delta[b, t, c] + dbias[c]
                    dt = _delta_t(v, softplus)
                    ut = u[b, t, c]
                    g_out = dout[b, t, c]
                    if has_z:
                        y = D[c] * ut
                        for i in range(n):
                            y += Ct[b, t, g, i] * hbuf[r + 1, i]
                        zz = z[b, t, c]
                        sg = 1.0 / (1.0 + math.exp(-zz))
                        dz[b, t, c] = g_out * y * sg * (1.0 + zz * (1.0 - sg))
                        dy = g_out * zz * sg
                    else:
                        dy = g_out
                    dD += dy * ut
                    du_acc = D[c] * dy
                    ddt = 0.0
                    for i in range(n):
                        a = abuf[r, i]
                        hi = hbuf[r + 1, i]
                        hp = hbuf[r, i]
                        dCt_p[b, k, t, i] += dy * hi
                        lm = lam[i] + dy * Ct[b, t, g, i]  # lam_t
                        dBt_p[b, k, t, i] += lm * dt * ut
                        du_acc += lm * dt * Bt[b, t, g, i]
                        ddt += lm * (Bt[b, t, g, i] * ut + Ac[i] * a * hp)
                        dA_p[b, c, i] += lm * dt * a * hp
                        lam[i] = a * lm  # carried to t-1 as a_t * lam_t
                    du[b, t, c] = du_acc
                    if softplus and v <= _SOFTPLUS_THRESHOLD:
                        ddt *= 1.0 / (1.0 + math.exp(-v))
                    ddelta[b, t, c] = ddt
                    ddb += ddt
                dD_p[b, c] += dD
                ddb_p[b, c] += ddb
        for c in range(c0, c1):
            dh0[b, c, :] = lams[c - c0]


def _channel_blocks(d: int, groups: int, batch: int) -> np.ndarray:
    """Split channels into blocks that never straddle a group, enough of them to feed all threads."""
    dpg = d // groups
    want = max(1, -(-4 * numba.get_num_threads() // (batch * groups)))
    k = min(dpg, want)
    starts = [g * dpg + (s * dpg) // k for g in range(groups) for s in range(k)]
    ends = [g * dpg + ((s + 1) * dpg) // k for g in range(groups) for s in range(k)]
    return np.array([starts, ends], dtype=np.int64).T.copy()


def _np(x: Tensor) -> np.ndarray:
    return x.detach().contiguous().numpy()


def _channel_last(x: Tensor, cdt: torch.dtype) -> Tensor:
    """(b, d, L) -> C-contiguous (b, L, d) in ``cdt``. Free when ``x`` is the transpose of a
    contiguous (b, L, d) tensor, which is how the model passes its activations."""
    return x.transpose(1, 2).to(cdt).contiguous()


def _bc_channel_last(BC: Tensor, cdt: torch.dtype) -> Tensor:
    """(b, n, L) or (b, g, n, L) -> C-contiguous (b, L, g, n) in ``cdt``."""
    BC = BC.transpose(1, 2).unsqueeze(2) if BC.dim() == 3 else BC.permute(0, 3, 1, 2)
    return BC.to(cdt).contiguous()


def _kernel_inputs(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, cdt: torch.dtype,
) -> tuple[np.ndarray, ...]:
    """(u, delta, A, Bt, Ct, D, z, dbias) as the loops read them: channel-last, in ``cdt``, with
    zeros / a dummy for absent options. Shared by the forward and the backward recompute."""
    d = u.shape[1]
    zeros = lambda *shape: torch.zeros(*shape, dtype=cdt)  # noqa: E731
    return (
        _np(_channel_last(u, cdt)), _np(_channel_last(delta, cdt)), _np(A.to(cdt)),
        _np(_bc_channel_last(B, cdt)), _np(_bc_channel_last(C, cdt)),
        _np(D.to(cdt) if D is not None else zeros(d)),
        _np(_channel_last(z, cdt) if z is not None else zeros(1, 1, 1)),
        _np(delta_bias.to(cdt) if delta_bias is not None else zeros(d)),
    )


def _selective_scan_cpu_fwd(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, initial_state: Tensor | None, save_ckpt: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Returns out (b, d, L) in the compute dtype (a transposed view of a contiguous (b, L, d)
    tensor), last_state (b, d, n), checkpoints (b, d, ceil(L / CHECKPOINT), n) or None."""
    cdt = torch.float64 if u.dtype == torch.float64 else torch.float32
    batch, d, L = u.shape
    n = A.shape[1]
    groups = 1 if B.dim() == 3 else B.shape[1]
    h0 = initial_state.to(cdt) if initial_state is not None else torch.zeros(batch, d, n, dtype=cdt)
    out = torch.empty(batch, L, d, dtype=cdt)
    last = torch.empty(batch, d, n, dtype=cdt)
    n_chunks = -(-L // CHECKPOINT)
    ckpt = torch.empty(batch, d, n_chunks, n, dtype=cdt) if save_ckpt else torch.empty(1, 1, 1, 1, dtype=cdt)
    _scan_fwd_loop(
        *_kernel_inputs(u, delta, A, B, C, D, z, delta_bias, cdt),
        _np(h0), z is not None, bool(delta_softplus), save_ckpt, cdt == torch.float32,
        _channel_blocks(d, groups, batch), out.numpy(), last.numpy(), ckpt.numpy(),
    )
    return out.transpose(1, 2), last, (ckpt if save_ckpt else None)


class SelectiveScanCpuFn(torch.autograd.Function):
    """Autograd wrapper; saves the inputs and the chunk-start states only."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state):
        out, last, ckpt = _selective_scan_cpu_fwd(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
            save_ckpt=any(ctx.needs_input_grad),
        )
        ctx.delta_softplus = delta_softplus
        ctx.meta = (D is not None, z is not None, delta_bias is not None)
        ctx.h0_dtype = initial_state.dtype if initial_state is not None else None
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt)
        return out.to(u.dtype), last

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
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
        dz = torch.empty(batch, L, d, dtype=cdt) if has_z else torch.zeros(1, 1, 1, dtype=cdt)
        dA_p = torch.zeros(batch, d, n, dtype=cdt)
        dBt_p = torch.zeros(batch, nblk, L, n, dtype=cdt)
        dCt_p = torch.zeros(batch, nblk, L, n, dtype=cdt)
        dD_p = torch.empty(batch, d, dtype=cdt)
        ddb_p = torch.empty(batch, d, dtype=cdt)
        dh0 = torch.empty(batch, d, n, dtype=cdt)
        _scan_bwd_loop(
            *_kernel_inputs(u, delta, A, B, C, D, z, delta_bias, cdt),
            _np(ckpt), _np(dout_c), _np(dlast_c), has_z, bool(ctx.delta_softplus), cdt == torch.float32, blocks,
            du.numpy(), ddelta.numpy(), dz.numpy(), dA_p.numpy(), dBt_p.numpy(), dCt_p.numpy(),
            dD_p.numpy(), ddb_p.numpy(), dh0.numpy(),
        )

        def reduce_bc(p: Tensor, like: Tensor) -> Tensor:
            # (b, g * k, L, n) -> (b, g, n, L), then drop the group axis for ungrouped inputs.
            g = p.view(batch, groups, nblk // groups, L, n).sum(2).transpose(-1, -2)
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
