"""Blocked sliding-window attention equals attention with an explicit (L, L) mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from genomamba.models.attention import banded_attention, local_causal_attention


def masked_reference(q, k, v, window):
    L = q.shape[2]
    t = torch.arange(L)
    allowed = t[None, :] <= t[:, None]
    if window is not None:
        allowed &= t[None, :] > t[:, None] - window
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


@pytest.mark.parametrize(
    ("L", "window"),
    [(1, 4), (12, 4), (13, 4), (37, 5), (9, 1), (16, 16), (10, 64), (33, None)],
)
def test_local_attention_matches_explicit_mask(L: int, window: int | None) -> None:
    g = torch.Generator().manual_seed(L * 31 + (window or 0))
    q, k, v = (torch.randn(2, 3, L, 8, generator=g, requires_grad=True) for _ in range(3))
    out = local_causal_attention(q, k, v, window)
    ref = masked_reference(q, k, v, window)
    assert out.shape == (2, 3, L, 8)
    assert_close(out, ref, atol=1e-5, rtol=1e-5)
    grad = torch.randn(out.shape, generator=g)
    got = torch.autograd.grad(out, (q, k, v), grad)
    want = torch.autograd.grad(ref, (q, k, v), grad)
    for a, b in zip(got, want, strict=True):
        assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_local_attention_ignores_keys_outside_the_window() -> None:
    q, k, v = (torch.randn(1, 1, 20, 4) for _ in range(3))
    v2 = v.clone()
    v2[:, :, :10] += 100.0  # only positions >= 10 + window - 1 = 13 must be unaffected
    out, out2 = local_causal_attention(q, k, v, 4), local_causal_attention(q, k, v2, 4)
    assert torch.equal(out[:, :, 13:], out2[:, :, 13:])
    assert not torch.allclose(out[:, :, 12], out2[:, :, 12])


@pytest.mark.parametrize(("L", "window"), [(1, 4), (12, 4), (13, 4), (37, 5), (3, 8)])
def test_banded_attention_with_history_matches_explicit_mask(L: int, window: int) -> None:
    # W history slots (a streaming cache; sample 1 has only 2 valid ones, a suffix), then the
    # chunk's L keys: query t sees keys t+1 .. t+W of [history | chunk] that are valid.
    g = torch.Generator().manual_seed(L * 7 + window)
    q = torch.randn(2, 3, L, 8, generator=g, requires_grad=True)
    k, v = (torch.randn(2, 3, window + L, 8, generator=g, requires_grad=True) for _ in range(2))
    key_valid = torch.ones(2, window + L, dtype=torch.bool)
    key_valid[1, : window - 2] = False
    out = banded_attention(q, k, v, window, key_valid)
    t, c = torch.arange(L)[:, None], torch.arange(window + L)[None, :]
    allowed = (c > t) & (c <= t + window) & key_valid[:, None, :]  # (2, L, W + L)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
    assert_close(out, ref, atol=1e-5, rtol=1e-5)
    grad = torch.randn(out.shape, generator=g)
    for a, b in zip(torch.autograd.grad(out, (q, k, v), grad), torch.autograd.grad(ref, (q, k, v), grad), strict=True):
        assert_close(a, b, atol=1e-5, rtol=1e-5)
