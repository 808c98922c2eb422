"""Pure-PyTorch reference selective scan (S6). This file *defines* the semantics.

The recurrence (Gu & Dao, 2023, "Mamba: Linear-Time Sequence Modeling with Selective
State Spaces", Alg. 2, zero-order-hold discretisation of A and Euler for B):

    delta_t = softplus(delta_t + delta_bias)          (bias / softplus optional)
    h_t     = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t     = <C_t, h_t> + D * u_t
    out_t   = y_t * silu(z_t)                          (gating optional)

Everything is accumulated in float32 (float64 stays float64) and the output is cast back
to the dtype of ``u``. The loop is deliberately sequential and readable; it is slow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Above this, softplus(x) is taken to be x (``torch.nn.functional.softplus``'s default
#: threshold); every backend applies the same cut-off so that they agree bit for bit there.
SOFTPLUS_THRESHOLD = 20.0


def _expand_groups(BC: Tensor, d: int) -> Tensor:
    """(batch, n, L) -> (batch, 1, n, L); (batch, g, n, L) -> (batch, d, n, L)."""
    if BC.dim() == 3:
        return BC.unsqueeze(1)
    groups = BC.shape[1]
    return BC.repeat_interleave(d // groups, dim=1)


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    initial_state: Tensor | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Sequential reference selective scan.

    Args:
        u: (batch, d, L) input.
        delta: (batch, d, L) step sizes (before bias / softplus).
        A: (d, n) real state matrix (negative for a stable scan).
        B: (batch, n, L) or grouped (batch, g, n, L) with d % g == 0.
        C: (batch, n, L) or grouped (batch, g, n, L).
        D: optional (d,) skip connection.
        z: optional (batch, d, L) gate; output is multiplied by silu(z).
        delta_bias: optional (d,) added to delta before the optional softplus.
        delta_softplus: apply softplus to delta.
        return_last_state: also return the final state.
        initial_state: optional (batch, d, n) state h_{-1}.

    Returns:
        out (batch, d, L) in u.dtype, and, if ``return_last_state``, last_state
        (batch, d, n) in float32 (float64 for float64 inputs).
    """
    dtype_in = u.dtype
    cdt = _compute_dtype(u)
    batch, d, L = u.shape
    n = A.shape[1]
    u_c = u.to(cdt)
    delta_c = delta.to(cdt)
    if delta_bias is not None:
        delta_c = delta_c + delta_bias.to(cdt)[:, None]
    if delta_softplus:
        delta_c = F.softplus(delta_c, threshold=SOFTPLUS_THRESHOLD)
    A_c = A.to(cdt)
    B_c = _expand_groups(B.to(cdt), d)  # (batch, d or 1, n, L)
    C_c = _expand_groups(C.to(cdt), d)

    h = (
        initial_state.to(cdt)
        if initial_state is not None
        else u_c.new_zeros(batch, d, n)
    )  # (batch, d, n)
    ys = []
    for t in range(L):
        dt = delta_c[:, :, t, None]  # (batch, d, 1)
        h = torch.exp(dt * A_c) * h + dt * B_c[..., t] * u_c[:, :, t, None]
        ys.append((h * C_c[..., t]).sum(-1))  # (batch, d)
    y = torch.stack(ys, dim=-1) if L > 0 else u_c.new_zeros(batch, d, 0)
    if D is not None:
        y = y + D.to(cdt)[:, None] * u_c
    if z is not None:
        y = y * F.silu(z.to(cdt))
    out = y.to(dtype_in)
    return (out, h) if return_last_state else out


def selective_state_update_ref(
    state: Tensor,
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
) -> tuple[Tensor, Tensor]:
    """One recurrent step of the selective scan (for token-by-token inference).

    Args:
        state: (batch, d, n) state h_{t-1}.
        x: (batch, d) input u_t.
        dt: (batch, d) step size delta_t.
        A: (d, n).
        B, C: (batch, n) or grouped (batch, g, n).
        D: optional (d,).  z: optional (batch, d).  dt_bias: optional (d,).

    Returns:
        (y, new_state): y (batch, d) in x.dtype, new_state (batch, d, n) in state's compute dtype.
    """
    cdt = _compute_dtype(x)
    out, new_state = selective_scan_ref(
        x.unsqueeze(-1),
        dt.unsqueeze(-1),
        A,
        B.unsqueeze(-1),
        C.unsqueeze(-1),
        D=D,
        z=None if z is None else z.unsqueeze(-1),
        delta_bias=dt_bias,
        delta_softplus=dt_softplus,
        return_last_state=True,
        initial_state=state.to(cdt),
    )
    return out.squeeze(-1), new_state
