"""The fused numba conv + silu (the mixer's CPU path before the scan) against its torch reference."""

from __future__ import annotations

import pytest
import torch
from genomamba.kernels.cpu_conv import BLOCK, causal_conv_silu_cpu, causal_conv_silu_ref


def _inputs(batch: int, L: int, d: int, K: int, *, has_prev: bool, has_bias: bool, dtype: torch.dtype):
    g = torch.Generator().manual_seed(L * 31 + d)
    # x as the mixer passes it: the first half of a wider (batch, L, 2d) projection, a column slice
    proj = torch.randn(batch, L, 2 * d, generator=g, dtype=dtype)
    w = torch.randn(d, 1, K, generator=g, dtype=dtype) * 0.5
    b = torch.randn(d, generator=g, dtype=dtype) if has_bias else None
    prev = torch.randn(batch, K - 1, d, generator=g, dtype=dtype) if has_prev else None
    return proj, w, b, prev


def _run(fn, proj, w, b, prev, gout):
    leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (proj, w, b, prev)]
    p, wl, bl, pl = leaves
    d = wl.shape[0]
    out = fn(p[..., :d], wl, bl, prev=pl)
    (out * gout).sum().backward()
    return out.detach(), [t.grad if t is not None else None for t in leaves]


@pytest.mark.parametrize(
    ("batch", "L", "d", "K", "has_prev", "has_bias"),
    [
        (2, BLOCK + 45, 5, 4, False, True),  # two blocks: rows after a block boundary
        (2, BLOCK + 45, 6, 4, True, False),
        (1, 2, 3, 4, True, True),  # shorter than the window: outputs read prev only partly
        (3, 17, 4, 1, False, True),  # K = 1: no history at all
    ],
)
def test_conv_silu_matches_reference(batch: int, L: int, d: int, K: int, has_prev: bool, has_bias: bool) -> None:
    proj, w, b, prev = _inputs(batch, L, d, K, has_prev=has_prev, has_bias=has_bias, dtype=torch.float32)
    gout = torch.randn(batch, L, d, generator=torch.Generator().manual_seed(5))
    out, grads = _run(causal_conv_silu_cpu, proj, w, b, prev, gout)
    ref, ref_grads = _run(causal_conv_silu_ref, proj, w, b, prev, gout)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for name, got, want in zip(("x", "weight", "bias", "prev"), grads, ref_grads, strict=True):
        assert (got is None) == (want is None), name
        if want is not None:
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, msg=lambda m, n=name: f"d{n}: {m}")


def test_conv_silu_gradcheck_float64() -> None:
    proj, w, b, prev = _inputs(2, 6, 3, 4, has_prev=True, has_bias=True, dtype=torch.float64)
    leaves = [t.requires_grad_() for t in (proj, w, b, prev)]
    assert torch.autograd.gradcheck(lambda p, w, b, prev: causal_conv_silu_cpu(p[..., :3], w, b, prev=prev), leaves)


def test_conv_silu_bf16_input_gives_float32_like_torch() -> None:
    # Under CPU autocast in_proj yields bf16 while the conv weight stays fp32: fp32 out, as torch promotes.
    proj, w, b, _ = _inputs(1, 9, 4, 4, has_prev=False, has_bias=True, dtype=torch.float32)
    x = proj[..., :4].bfloat16()
    out = causal_conv_silu_cpu(x, w, b)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, causal_conv_silu_ref(x.float(), w, b), rtol=1e-5, atol=1e-5)
