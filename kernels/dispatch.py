"""The one entry point the model calls: picks Triton (CUDA), the fast CPU path, or the reference.

Nothing here imports triton at module import time: the Triton module is imported on first use
and only on Linux (triton wheels exist only there).
"""

from __future__ import annotations

import os
import sys
from functools import cache
from types import ModuleType

import torch
import torch.nn.functional as F
from genomamba.kernels.reference import SOFTPLUS_THRESHOLD, selective_scan_ref
from torch import Tensor

from genomamba.errors import KernelInputError

BACKENDS = ("auto", "triton", "cpu", "reference")
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

#: Which Triton implementation backend "triton" (and "auto" on CUDA) runs, read at each call:
#: "v1" (``triton_scan``: per-state tiles, 32-64-step chunks) or "chunked"
#: (``triton_scan_chunked``: 1,024-step chunks, states looped inside the chunk). "v1" stays the
#: default until the chunked kernels have passed ``pytest -m gpu`` on a GPU; then v1 goes.
TRITON_SCAN_ENV = "GENOMAMBA_TRITON_SCAN"
TRITON_SCAN_IMPLS = {"v1": ("triton_scan", "selective_scan_triton"),
                     "chunked": ("triton_scan_chunked", "selective_scan_chunked")}
DEFAULT_TRITON_SCAN = "v1"


def triton_scan_impl() -> str:
    """The Triton implementation selected by ``GENOMAMBA_TRITON_SCAN`` (default ``v1``)."""
    value = os.environ.get(TRITON_SCAN_ENV, "").strip().lower() or DEFAULT_TRITON_SCAN
    if value not in TRITON_SCAN_IMPLS:
        raise KernelInputError(
            f"selective_scan: {TRITON_SCAN_ENV}={os.environ[TRITON_SCAN_ENV]!r} is not a Triton scan "
            f"implementation; set it to one of {sorted(TRITON_SCAN_IMPLS)} or unset it."
        )
    return value


@cache
def _triton_module(impl: str = DEFAULT_TRITON_SCAN) -> ModuleType | None:
    """The Triton scan module of ``impl`` if triton imports here, else None (cached)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import importlib

        return importlib.import_module(f"genomamba.kernels.{TRITON_SCAN_IMPLS[impl][0]}")
    except ImportError:
        return None


def _triton_interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _check_shape(name: str, t: Tensor | None, expected: tuple[int, ...], what: str) -> None:
    if t is not None and tuple(t.shape) != expected:
        raise KernelInputError(
            f"selective_scan: `{name}` must have shape {what} = {expected}, got {tuple(t.shape)}; "
            f"check how `{name}` is sliced/transposed before the call."
        )


def _check_inputs(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, initial_state: Tensor | None,
) -> None:
    """Raise KernelInputError naming the argument for any shape / dtype / device mismatch."""
    named = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z,
             "delta_bias": delta_bias, "initial_state": initial_state}
    for name, t in named.items():
        if t is not None and not isinstance(t, Tensor):
            raise KernelInputError(f"selective_scan: `{name}` must be a torch.Tensor, got {type(t).__name__}.")
    if u.dim() != 3:
        raise KernelInputError(
            f"selective_scan: `u` must have shape (batch, d, L), got {tuple(u.shape)} "
            "(mamba layout: channels before length; transpose a (batch, L, d) tensor with .transpose(1, 2))."
        )
    batch, d, L = u.shape
    if A.dim() != 2 or A.shape[0] != d:
        raise KernelInputError(f"selective_scan: `A` must have shape (d, n) with d={d}, got {tuple(A.shape)}.")
    n = A.shape[1]
    _check_shape("delta", delta, (batch, d, L), "(batch, d, L)")
    _check_shape("z", z, (batch, d, L), "(batch, d, L)")
    _check_shape("D", D, (d,), "(d,)")
    _check_shape("delta_bias", delta_bias, (d,), "(d,)")
    _check_shape("initial_state", initial_state, (batch, d, n), "(batch, d, n)")
    for name, t in (("B", B), ("C", C)):
        if t.dim() == 3:
            _check_shape(name, t, (batch, n, L), "(batch, n, L)")
        elif t.dim() == 4:
            g = t.shape[1]
            if g == 0 or d % g != 0:
                raise KernelInputError(
                    f"selective_scan: grouped `{name}` has {g} groups, which does not divide d={d}."
                )
            _check_shape(name, t, (batch, g, n, L), "(batch, g, n, L)")
        else:
            raise KernelInputError(
                f"selective_scan: `{name}` must have shape (batch, n, L) or (batch, g, n, L) "
                f"= ({batch}, {n}, {L}) or ({batch}, g, {n}, {L}), got {tuple(t.shape)}."
            )
    if B.shape != C.shape:
        raise KernelInputError(
            f"selective_scan: `B` and `C` must have the same shape, got {tuple(B.shape)} and {tuple(C.shape)}."
        )
    for name, t in named.items():
        if t is None:
            continue
        if t.dtype not in _FLOAT_DTYPES:
            raise KernelInputError(
                f"selective_scan: `{name}` must be float16/bfloat16/float32/float64, got {t.dtype}."
            )
        if t.device != u.device:
            raise KernelInputError(
                f"selective_scan: `{name}` is on {t.device} but `u` is on {u.device}; move all inputs "
                "to one device."
            )
    for name, t in (("delta", delta), ("z", z)):
        if t is not None and t.dtype != u.dtype:
            raise KernelInputError(f"selective_scan: `{name}` must have dtype {u.dtype} like `u`, got {t.dtype}.")


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

    Args:
        u, delta, z: (batch, d, L).  A: (d, n).  B, C: (batch, n, L) or (batch, g, n, L).
        D, delta_bias: (d,).  initial_state: (batch, d, n).
        backend: "auto" (Triton on CUDA when triton imports, numba on CPU), "triton" (CUDA, or CPU
            under TRITON_INTERPRET=1), "cpu", or "reference". Which Triton kernels run is set by
            the environment variable ``GENOMAMBA_TRITON_SCAN`` (``v1``, the default, or ``chunked``).

    Returns:
        out (batch, d, L) in u.dtype, plus the last state (batch, d, n) in fp32 (fp64 for fp64
        inputs) when ``return_last_state``.
    """
    if backend not in BACKENDS:
        raise KernelInputError(f"selective_scan: unknown backend {backend!r}; choose one of {BACKENDS}.")
    _check_inputs(u, delta, A, B, C, D, z, delta_bias, initial_state)
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, initial_state)
    if backend == "auto":
        if u.is_cuda:
            backend = "triton" if u.dtype != torch.float64 and _triton_module() is not None else "reference"
        elif u.device.type == "cpu":
            backend = "cpu"
        else:
            backend = "reference"
    if backend == "reference":
        return selective_scan_ref(*args)
    if backend == "cpu":
        if u.device.type != "cpu":
            raise KernelInputError(
                f"selective_scan: backend='cpu' needs CPU tensors, got {u.device}; use backend='auto'."
            )
        from genomamba.kernels.cpu_scan import selective_scan_cpu

        return selective_scan_cpu(*args)
    # backend == "triton"
    impl = triton_scan_impl()
    module = _triton_module(impl)
    if module is None:
        raise KernelInputError(
            "selective_scan: backend='triton' but triton cannot be imported on this platform; "
            "use backend='auto'."
        )
    if u.device.type == "cpu" and not _triton_interpreting():
        raise KernelInputError(
            "selective_scan: backend='triton' on CPU tensors needs TRITON_INTERPRET=1 set before triton "
            "is imported; use backend='cpu' for the fast CPU path."
        )
    if u.dtype == torch.float64:
        raise KernelInputError(
            "selective_scan: the Triton kernel computes in float32; for float64 inputs use "
            "backend='cpu' (on CPU) or backend='reference'."
        )
    return getattr(module, TRITON_SCAN_IMPLS[impl][1])(*args)


def causal_conv_silu(x: Tensor, weight: Tensor, bias: Tensor | None = None, prev: Tensor | None = None) -> Tensor:
    """silu(causal depthwise conv over [prev | x] along time), channel-last: the fused numba kernel
    on CPU, the torch reference elsewhere.

    Args:
        x: (batch, L, d).  weight: (d, 1, K).  bias: optional (d,).  prev: optional (batch, K - 1, d),
            the inputs before x (zeros when None).

    Returns:
        (batch, L, d) in the promoted dtype of x and weight.
    """
    if x.device.type == "cpu":
        from genomamba.kernels.cpu_conv import causal_conv_silu_cpu

        return causal_conv_silu_cpu(x, weight, bias, prev=prev)
    from genomamba.kernels.cpu_conv import causal_conv_silu_ref

    return causal_conv_silu_ref(x, weight, bias, prev=prev)


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
    """One recurrent step (token-by-token inference), vectorised over batch, channels and states.

    Args:
        state: (batch, d, n) state h_{t-1}.  x, dt, z: (batch, d).  A: (d, n).
        B, C: (batch, n) or grouped (batch, g, n).  D, dt_bias: (d,).

    Returns:
        (y, new_state): y (batch, d) in x.dtype; new_state (batch, d, n) in fp32 (fp64 for fp64).
        Equal to one step of :func:`selective_scan_ref` with ``initial_state=state``.
    """
    if x.dim() != 2:
        raise KernelInputError(f"selective_state_update: `x` must have shape (batch, d), got {tuple(x.shape)}.")
    batch, d = x.shape
    if A.dim() != 2 or A.shape[0] != d:
        raise KernelInputError(
            f"selective_state_update: `A` must have shape (d, n) with d={d}, got {tuple(A.shape)}."
        )
    n = A.shape[1]
    for name, t, shape in (("state", state, (batch, d, n)), ("dt", dt, (batch, d)), ("z", z, (batch, d)),
                           ("D", D, (d,)), ("dt_bias", dt_bias, (d,))):
        if t is not None and tuple(t.shape) != shape:
            raise KernelInputError(
                f"selective_state_update: `{name}` must have shape {shape}, got {tuple(t.shape)}."
            )
    for name, t in (("B", B), ("C", C)):
        ok = (t.dim() == 2 and tuple(t.shape) == (batch, n)) or (
            t.dim() == 3 and t.shape[0] == batch and t.shape[2] == n and t.shape[1] > 0 and d % t.shape[1] == 0
        )
        if not ok:
            raise KernelInputError(
                f"selective_state_update: `{name}` must have shape (batch, n) = ({batch}, {n}) or "
                f"(batch, g, n) with g dividing d={d}, got {tuple(t.shape)}."
            )
    for name, t in (("state", state), ("dt", dt), ("A", A), ("B", B), ("C", C), ("D", D), ("z", z),
                    ("dt_bias", dt_bias)):
        if t is not None and t.device != x.device:
            raise KernelInputError(
                f"selective_state_update: `{name}` is on {t.device} but `x` is on {x.device}."
            )
    cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
    delta = dt.to(cdt)
    if dt_bias is not None:
        delta = delta + dt_bias.to(cdt)
    if dt_softplus:
        delta = F.softplus(delta, threshold=SOFTPLUS_THRESHOLD)
    xc = x.to(cdt)

    def per_group(t: Tensor) -> Tensor:
        # (batch, n) -> (batch, 1, 1, n); (batch, g, n) -> (batch, g, 1, n): broadcast over the
        # channels of a group instead of materialising repeat_interleave.
        t = t.to(cdt)
        return t[:, None, None, :] if t.dim() == 2 else t[:, :, None, :]

    Bg, Cg = per_group(B), per_group(C)
    groups = Bg.shape[1]
    decay = torch.exp(delta[..., None] * A.to(cdt))  # (batch, d, n)
    h = (state.to(cdt) * decay).view(batch, groups, d // groups, n) + (delta * xc).view(
        batch, groups, d // groups, 1
    ) * Bg
    y = (h * Cg).sum(-1).view(batch, d)
    h = h.view(batch, d, n)
    if D is not None:
        y = y + D.to(cdt) * xc
    if z is not None:
        y = y * F.silu(z.to(cdt))
    return y.to(x.dtype), h
