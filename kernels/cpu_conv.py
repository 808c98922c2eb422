"""CPU causal depthwise conv + silu, fused: the numba loops the Mamba mixer runs before the scan.

    out_t = silu(bias + sum_j w_j * xcat_{t + j}),   xcat = [prev | x] along time (prev: the last
    K - 1 inputs of the previous chunk, zeros at the start of a sequence)

Done in torch this is K shifted multiply-adds, a bias add and a silu over (batch, L, d), plus the
``cat`` that puts ``prev`` in front, and about twice as many passes again in the backward. Here
the forward is one pass (read x, write out) and the backward one more (read x and the output
gradient, write dx; the pre-activation is recomputed, dw / dbias summed per block). Layers as in
:mod:`genomamba.kernels.cpu_scan`: ``_conv_silu_fwd_loop`` / ``_conv_silu_bwd_loop`` (numba) ->
``CausalConvSiluCpuFn`` (autograd) -> ``causal_conv_silu_cpu`` (public). The reference is
:func:`causal_conv_silu_ref`; both are channel-last: x (batch, L, d), weight (d, 1, K).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from genomamba.kernels.cpu_scan import _rows, _sigmoid, _typed, _use_torch_threads
from numba import njit, prange
from torch import Tensor

# Time steps per parallel task: 8 x 1 kb gives 32 tasks for 2 threads; a task's (BLOCK + K - 1)
# rows of d_inner pre-activations stay in L2 for the backward.
BLOCK = 256


@njit(parallel=True, cache=True, fastmath={"contract"}, error_model="numpy")
def _conv_silu_fwd_loop(x, xoff, prev, has_prev, taps, bias, out):  # pragma: no cover - compiled
    """x (b, L, >= xoff + d) read at columns xoff..; prev (b, K - 1, d); taps (K, d); bias (d,);
    out (b, L, d)."""
    nb, L, d = out.shape
    K = taps.shape[0]
    k = K - 1
    nblk = (L + BLOCK - 1) // BLOCK
    for idx in prange(nb * nblk):
        b = idx // nblk
        t0 = (idx % nblk) * BLOCK
        t1 = min(t0 + BLOCK, L)
        acc = np.empty(d, out.dtype)
        for t in range(t0, t1):
            for c in range(d):
                acc[c] = bias[c]
            for j in range(K):
                s = t + j - k  # xcat_{t + j} = x_s, or prev_{t + j} before the chunk
                if s >= 0:
                    row = x[b, s, xoff : xoff + d]
                elif has_prev:
                    row = prev[b, t + j]
                else:
                    continue
                w = taps[j]
                for c in range(d):
                    acc[c] += w[c] * row[c]
            o = out[b, t]
            for c in range(d):
                a = acc[c]
                o[c] = a * _sigmoid(a)


@njit(parallel=True, cache=True, fastmath={"contract"}, error_model="numpy")
def _conv_silu_bwd_loop(x, xoff, prev, has_prev, taps, bias, g, dx, dprev, dw_p, db_p):  # pragma: no cover
    """g, dx (b, L, d); dprev (b, K - 1, d) (written when ``has_prev``); dw_p (tasks, K, d), db_p
    (tasks, d): per-task partial sums. Each task recomputes the pre-activation of its rows and of
    the K - 1 rows after them (their gradient reaches its inputs)."""
    nb, L, d = g.shape
    K = taps.shape[0]
    k = K - 1
    nblk = (L + BLOCK - 1) // BLOCK
    one = _typed(1.0, g)
    for idx in prange(nb * nblk):
        b = idx // nblk
        t0 = (idx % nblk) * BLOCK
        t1 = min(t0 + BLOCK, L)
        t2 = min(t1 + k, L)
        dpre = np.empty((t2 - t0, d), g.dtype)  # d(pre-activation) of rows t0 .. t2 - 1
        acc = np.empty(d, g.dtype)
        dwt = dw_p[idx]
        dbt = db_p[idx]
        dwt[:, :] = 0.0
        dbt[:] = 0.0
        for t in range(t0, t2):
            for c in range(d):
                acc[c] = bias[c]
            for j in range(K):
                s = t + j - k
                if s >= 0:
                    row = x[b, s, xoff : xoff + d]
                elif has_prev:
                    row = prev[b, t + j]
                else:
                    continue
                w = taps[j]
                for c in range(d):
                    acc[c] += w[c] * row[c]
            gr = g[b, t]
            dp = dpre[t - t0]
            for c in range(d):
                a = acc[c]
                sg = _sigmoid(a)
                dp[c] = gr[c] * sg * (one + a * (one - sg))
            if t < t1:  # this task's rows: weight and bias gradients
                for c in range(d):
                    dbt[c] += dp[c]
                for j in range(K):
                    s = t + j - k
                    if s >= 0:
                        row = x[b, s, xoff : xoff + d]
                    elif has_prev:
                        row = prev[b, t + j]
                    else:
                        continue
                    dwj = dwt[j]
                    for c in range(d):
                        dwj[c] += dp[c] * row[c]
        for s in range(t0, t1):  # x_s feeds outputs s .. s + k through taps k .. 0
            o = dx[b, s]
            for c in range(d):
                o[c] = 0.0
            for j in range(K):
                t = s + k - j
                if t < L:
                    w = taps[j]
                    dp = dpre[t - t0]
                    for c in range(d):
                        o[c] += w[c] * dp[c]
        if has_prev and t0 == 0:  # prev_p feeds outputs p - j
            for p in range(k):
                o = dprev[b, p]
                for c in range(d):
                    o[c] = 0.0
                for j in range(p + 1):
                    t = p - j
                    if t < L:
                        w = taps[j]
                        dp = dpre[t]
                        for c in range(d):
                            o[c] += w[c] * dp[c]


class CausalConvSiluCpuFn(torch.autograd.Function):
    """Autograd wrapper; saves the inputs only (the backward recomputes the pre-activation)."""

    @staticmethod
    def forward(ctx, x, prev, weight, bias):
        cdt = torch.float64 if x.dtype == torch.float64 or weight.dtype == torch.float64 else torch.float32
        out_dtype = torch.promote_types(x.dtype, weight.dtype)
        batch, L, d = x.shape
        K = weight.shape[-1]
        xr, xoff = _rows(x.to(cdt))
        prev_c = prev.to(cdt).contiguous() if prev is not None else torch.zeros(1, max(K - 1, 1), d, dtype=cdt)
        taps = weight[:, 0, :].t().to(cdt).contiguous()  # (K, d)
        bias_c = bias.to(cdt).contiguous() if bias is not None else torch.zeros(d, dtype=cdt)
        out = torch.empty(batch, L, d, dtype=cdt)
        _use_torch_threads()
        _conv_silu_fwd_loop(xr, xoff, prev_c.numpy(), prev is not None, taps.numpy(), bias_c.numpy(), out.numpy())
        ctx.save_for_backward(x, prev, weight, bias)
        return out.to(out_dtype)

    @staticmethod
    def backward(ctx, dout):
        x, prev, weight, bias = ctx.saved_tensors
        cdt = torch.float64 if x.dtype == torch.float64 or weight.dtype == torch.float64 else torch.float32
        batch, L, d = x.shape
        K = weight.shape[-1]
        xr, xoff = _rows(x.to(cdt))
        prev_c = prev.to(cdt).contiguous() if prev is not None else torch.zeros(1, max(K - 1, 1), d, dtype=cdt)
        taps = weight[:, 0, :].t().to(cdt).contiguous()
        bias_c = bias.to(cdt).contiguous() if bias is not None else torch.zeros(d, dtype=cdt)
        g = dout.to(cdt).contiguous()
        tasks = batch * -(-L // BLOCK)
        dx = torch.empty(batch, L, d, dtype=cdt)
        dprev = torch.empty(batch, max(K - 1, 1), d, dtype=cdt) if prev is not None else prev_c
        dw_p = torch.empty(tasks, K, d, dtype=cdt)
        db_p = torch.empty(tasks, d, dtype=cdt)
        _use_torch_threads()
        _conv_silu_bwd_loop(
            xr, xoff, prev_c.numpy(), prev is not None, taps.numpy(), bias_c.numpy(), g.numpy(),
            dx.numpy(), dprev.numpy(), dw_p.numpy(), db_p.numpy(),
        )
        return (
            dx.to(x.dtype),
            dprev[:, : K - 1].to(prev.dtype) if prev is not None else None,
            dw_p.sum(0).t()[:, None, :].to(weight.dtype),
            db_p.sum(0).to(bias.dtype) if bias is not None else None,
        )


def causal_conv_silu_cpu(x: Tensor, weight: Tensor, bias: Tensor | None = None, prev: Tensor | None = None) -> Tensor:
    """silu(causal depthwise conv) on CPU tensors, fused in numba; same contract as :func:`causal_conv_silu_ref`."""
    return CausalConvSiluCpuFn.apply(x, prev, weight, bias)


def causal_conv_silu_ref(x: Tensor, weight: Tensor, bias: Tensor | None = None, prev: Tensor | None = None) -> Tensor:
    """Reference: silu of the depthwise conv over [prev | x] (zeros for a missing prev), valid part.

    Args:
        x: (batch, L, d).  weight: (d, 1, K).  bias: optional (d,).  prev: optional (batch, K - 1, d).

    Returns:
        (batch, L, d) in the promoted dtype of x and weight.
    """
    K = weight.shape[-1]
    if prev is None:
        prev = x.new_zeros(x.shape[0], K - 1, x.shape[2])
    xcat = torch.cat([prev.to(x.dtype), x], dim=1).transpose(1, 2)  # (batch, d, K - 1 + L)
    return F.silu(F.conv1d(xcat, weight, bias, groups=weight.shape[0])).transpose(1, 2)


__all__ = ["causal_conv_silu_cpu", "causal_conv_silu_ref", "CausalConvSiluCpuFn"]
