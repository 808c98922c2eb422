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


def log_step_interpreter_scan(swap_reverse_operands: bool = False):
    """A stand-in for the Triton interpreter's element-by-element ``generic_scan`` (one Python call of
    the combine per element): the same inclusive scan in log2(n) vectorised steps (Hillis-Steele,
    y_i <- combine(y_{i-k}, y_i), the earlier segment always the first operand, as the interpreter
    does), so that kernel tests with several chunks and states run in seconds. Results equal the
    element-by-element scan up to float rounding (it re-associates an associative combine).

    ``swap_reverse_operands``: for reverse scans, pass the two operands in the other order (the later
    segment second), the operand-order bug triton-lang/triton#4362 reports for GPUs: a kernel whose
    reverse scan is right under both orders does not depend on it.

    Returns the replacement for ``triton.runtime.interpreter.ScanOps.generic_scan``.
    """
    import numpy as np

    def generic_scan(self, inputs):
        axis = self.axis
        dtypes = [t.dtype for t in inputs]
        acc = [np.ascontiguousarray(t.handle.data) for t in inputs]
        length = acc[0].shape[axis]

        pos = np.arange(length).reshape([-1 if i == axis else 1 for i in range(acc[0].ndim)])
        k = 1
        while k < length:
            # Whole-array steps (the interpreter's blocks must keep power-of-two shapes): the combine
            # also runs on the wrapped-around first k positions, whose results are discarded.
            earlier = tuple(self.to_tensor(np.roll(a, k, axis=axis), dt) for a, dt in zip(acc, dtypes, strict=True))
            later = tuple(self.to_tensor(a, dt) for a, dt in zip(acc, dtypes, strict=True))
            with np.errstate(all="ignore"):
                swap = swap_reverse_operands and self.reverse
                ret = self.combine_fn.fn(*(later + earlier)) if swap else self.combine_fn.fn(*(earlier + later))
            ret = ret if isinstance(ret, tuple) else (ret,)
            acc = [np.where(pos >= k, r.handle.data, a) for a, r in zip(acc, ret, strict=True)]
            k *= 2
        return [self.to_tensor(a, dt) for a, dt in zip(acc, dtypes, strict=True)]

    return generic_scan
