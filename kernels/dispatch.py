"""The one entry point the model calls: picks Triton (CUDA), the fast CPU path, or the reference."""

from __future__ import annotations

from torch import Tensor

from genomamba.kernels.reference import selective_scan_ref, selective_state_update_ref

BACKENDS = ("auto", "triton", "cpu", "reference")


def selective_scan(
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
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan with mamba_ssm's ``selective_scan_fn`` signature and return convention.

    Shapes: u, delta, z (batch, d, L); A (d, n); B, C (batch, n, L) or (batch, g, n, L);
    D, delta_bias (d,); initial_state (batch, d, n). Returns out (batch, d, L), plus the
    last state (batch, d, n) when ``return_last_state``.
    """
    # TODO(kernels issue): Triton and CPU backends; reference for now.
    return selective_scan_ref(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, initial_state
    )


def selective_state_update(
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
    """Single recurrent step; see :func:`selective_state_update_ref` for shapes."""
    return selective_state_update_ref(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)
