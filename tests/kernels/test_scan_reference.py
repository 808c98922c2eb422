"""The pure-PyTorch reference: hand-computed values, float64 gradcheck, single-step update."""

from __future__ import annotations

import math

import pytest
import torch
from genomamba.kernels import selective_scan_ref, selective_state_update, selective_state_update_ref
from scan_helpers import make_scan_inputs


def test_reference_hand_computed() -> None:
    # d = n = 1, L = 2: h_0 = dt0*B0*u0, h_1 = exp(dt1*A)*h_0 + dt1*B1*u1, y_t = C_t h_t + D u_t.
    u = torch.tensor([[[1.0, 2.0]]])
    delta = torch.tensor([[[0.5, 0.25]]])
    A = torch.tensor([[-1.0]])
    B = torch.tensor([[[2.0, -1.0]]])
    C = torch.tensor([[[3.0, 0.5]]])
    D = torch.tensor([0.1])
    h0 = 0.5 * 2.0 * 1.0
    h1 = math.exp(-0.25) * h0 + 0.25 * -1.0 * 2.0
    expected = torch.tensor([[[3.0 * h0 + 0.1, 0.5 * h1 + 0.2]]])
    out, last = selective_scan_ref(u, delta, A, B, C, D, return_last_state=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(last, torch.tensor([[[h1]]]))


@pytest.mark.parametrize("groups", [None, 2])
def test_reference_gradcheck_float64(groups: int | None) -> None:
    x = make_scan_inputs(1, 2, 2, 5, groups=groups, has_h0=True, dtype=torch.float64)
    leaves = [v.requires_grad_() for v in x.values()]

    def f(*args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return selective_scan_ref(*args[:8], delta_softplus=True, return_last_state=True, initial_state=args[8])

    assert torch.autograd.gradcheck(f, leaves)


@pytest.mark.parametrize(
    ("groups", "has_D", "has_z", "has_bias", "dt_softplus"),
    [
        (None, False, False, False, False),
        (None, True, True, True, True),
        (3, True, True, True, True),
    ],
)
def test_state_update_matches_scan_token_by_token(
    groups: int | None, has_D: bool, has_z: bool, has_bias: bool, dt_softplus: bool
) -> None:
    batch, d, n, L = 2, 6, 4, 9
    x = make_scan_inputs(batch, d, n, L, groups=groups, has_D=has_D, has_z=has_z, has_bias=has_bias, has_h0=True)
    ref_out, ref_last = selective_scan_ref(
        x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], x["z"], x["delta_bias"], dt_softplus,
        return_last_state=True, initial_state=x["initial_state"],
    )
    for update in (selective_state_update, selective_state_update_ref):
        state = x["initial_state"]
        ys = []
        for t in range(L):
            y, state = update(
                state, x["u"][..., t], x["delta"][..., t], x["A"], x["B"][..., t], x["C"][..., t], x["D"],
                None if x["z"] is None else x["z"][..., t], x["delta_bias"], dt_softplus,
            )
            ys.append(y)
        torch.testing.assert_close(torch.stack(ys, dim=-1), ref_out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(state, ref_last, rtol=1e-5, atol=1e-5)


def test_state_update_keeps_input_dtype_and_fp32_state() -> None:
    x = make_scan_inputs(2, 4, 3, 1, has_h0=True)
    y, state = selective_state_update(
        x["initial_state"], x["u"][..., 0].bfloat16(), x["delta"][..., 0].bfloat16(), x["A"],
        x["B"][..., 0], x["C"][..., 0], x["D"], None, x["delta_bias"], True,
    )
    assert y.dtype == torch.bfloat16 and state.dtype == torch.float32
