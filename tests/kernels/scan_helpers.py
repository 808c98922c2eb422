"""Input builders and comparison helpers shared by the selective-scan tests."""

from __future__ import annotations

from collections.abc import Callable

import torch

ARG_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")


def make_scan_inputs(
    batch: int, d: int, n: int, L: int, *, groups: int | None = None, has_D: bool = True,
    has_z: bool = True, has_bias: bool = True, has_h0: bool = False, dtype: torch.dtype = torch.float32,
    device: str = "cpu", seed: int = 0,
) -> dict[str, torch.Tensor | None]:
    """Random, stable scan inputs (A < 0) keyed by argument name; absent options are None."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen) * scale).to(device=device, dtype=dtype)

    bc_shape = (batch, n, L) if groups is None else (batch, groups, n, L)
    return {
        "u": rnd(batch, d, L),
        "delta": rnd(batch, d, L, scale=0.5),
        "A": -(torch.rand(d, n, generator=gen) + 0.2).to(device=device, dtype=dtype),
        "B": rnd(*bc_shape),
        "C": rnd(*bc_shape),
        "D": rnd(d) if has_D else None,
        "z": rnd(batch, d, L) if has_z else None,
        "delta_bias": rnd(d, scale=0.5) if has_bias else None,
        "initial_state": rnd(batch, d, n) if has_h0 else None,
    }


def run_with_grads(
    fn: Callable[..., object], inputs: dict[str, torch.Tensor | None], *, delta_softplus: bool,
    return_last_state: bool, grad_out: torch.Tensor, grad_last: torch.Tensor | None, **kwargs: object,
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Run ``fn`` on fresh leaf copies of ``inputs``; return [out, (last)] and the grads by name."""
    leaves = {k: (v.detach().clone().requires_grad_() if v is not None else None) for k, v in inputs.items()}
    res = fn(**leaves, delta_softplus=delta_softplus, return_last_state=return_last_state, **kwargs)
    outs = list(res) if return_last_state else [res]
    loss = (outs[0].float() * grad_out.float()).sum()
    if return_last_state and grad_last is not None:
        loss = loss + (outs[1].float() * grad_last.float()).sum()
    loss.backward()
    grads = {k: v.grad for k, v in leaves.items() if v is not None}
    return [o.detach() for o in outs], grads


def assert_close_scaled(got: torch.Tensor, ref: torch.Tensor, *, rtol: float, atol: float, name: str) -> None:
    """assert_close with atol scaled by the reference magnitude (gradients can be large)."""
    scale = max(1.0, ref.detach().abs().max().item()) if ref.numel() else 1.0
    torch.testing.assert_close(
        got.detach().to(ref.dtype), ref.detach(), rtol=rtol, atol=atol * scale, msg=lambda m: f"{name}: {m}"
    )

