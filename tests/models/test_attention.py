"""Blocked sliding-window attention equals attention with an explicit (L, L) mask; rotary
periods (``rope_periods``) give scores that depend on the offset modulo the period."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from genomamba.errors import ConfigError
from genomamba.models import GenomambaConfig
from genomamba.models.attention import _rotate, banded_attention, local_causal_attention, rotary_frequencies


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


def test_rope_periods_replace_the_lowest_frequencies() -> None:
    plain = rotary_frequencies(8, 10000.0)
    codon = rotary_frequencies(8, 10000.0, [3, 6])
    assert_close(codon[:6], plain[:6])
    assert_close(codon[6:], torch.tensor([2 * math.pi / 3, 2 * math.pi / 6]))
    assert plain.max() <= 1.0  # geometric RoPE has no frequency of 2*pi/3: it cannot express codon phase


def test_a_period_3_rotary_pair_scores_keys_by_offset_modulo_3() -> None:
    """With only the period-3 pair non-zero, a query's score of a key depends on (t - s) mod 3:
    equal for offsets 1, 4, 7 and different for offsets 1 and 2. Without the period it is not."""
    hd = 8  # 4 rotary pairs; pair 3 (dims 3 and 7) is the replaced one
    q, k = torch.zeros(1, 1, 10, hd), torch.zeros(1, 1, 10, hd)
    q[..., 3] = 1.0
    k[..., 3], k[..., 7] = math.cos(0.7), math.sin(0.7)  # a phase, so offsets 1 and 2 (= -1) differ
    pos = torch.arange(10)[None]

    def scores(periods: list[int]) -> torch.Tensor:  # query at position 9 against keys 0..9
        return _rotate(k, pos, 10000.0, periods)[0, 0] @ _rotate(q, pos, 10000.0, periods)[0, 0, 9]

    s = scores([3])
    assert_close(s[8], s[5])  # offsets 1 and 4
    assert_close(s[8], s[2])  # offset 7
    assert_close(s[9], s[6])  # offsets 0 and 3
    assert (s[8] - s[7]).abs() > 0.1  # offsets 1 and 2 differ
    plain = scores([])
    assert (plain[8] - plain[5]).abs() > 1e-3


@pytest.mark.parametrize("periods", [[1], [0], [2.5], [True], ["a"], ["3"]])
def test_rope_periods_must_be_integers_of_at_least_2(periods: list) -> None:
    with pytest.raises(ConfigError, match="rope_periods"):
        GenomambaConfig(d_model=16, attn_layers=[0], attn_heads=2, rope_periods=periods)


def test_rope_periods_must_fit_the_head() -> None:
    with pytest.raises(ConfigError, match="rotary pairs"):
        GenomambaConfig(d_model=16, attn_layers=[0], attn_heads=2, rope_periods=[3, 4, 5, 6, 7])
