"""Triton kernels against the reference: small shapes with a small chunk (several chunks per
sequence) through the Triton interpreter on CPU, or natively where CUDA exists; larger shapes incl.
fp16/bf16 on CUDA only (``gpu`` marker)."""

from __future__ import annotations

import pytest
import torch
from genomamba.kernels import selective_scan, selective_scan_ref
from scan_helpers import assert_close_scaled, make_scan_inputs, run_with_grads

INTERP_CHUNK = 8  # small power of two: L = 20 spans 3 chunks, the last one partial
INTERP_BLOCK_D = 4

# (batch, d, n, L, groups, has_D, has_z, has_bias_softplus, has_h0, return_last_state)
INTERP_CASES = [
    (1, 3, 1, 1, None, False, False, False, False, False),  # L = 1, n = 1
    (2, 5, 4, 20, None, True, True, True, True, True),  # d not a multiple of BLOCK_D, 3 chunks
    (1, 6, 16, 13, 3, True, False, True, False, True),  # grouped (2 channels per group)
    (1, 8, 4, 16, 2, False, True, False, True, False),  # L a multiple of the chunk
    (2, 4, 16, 7, None, False, False, True, True, True),  # L < chunk
]



def _device() -> str:
    # The small-shape tests run through the interpreter on CPU, or natively when CUDA is present
    # (conftest sets TRITON_INTERPRET=1 only without CUDA).
    return "cuda" if torch.cuda.is_available() else "cpu"


def _triton_interp(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False,
    initial_state=None,
):
    from genomamba.kernels.triton_scan import selective_scan_triton

    return selective_scan_triton(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, initial_state,
        chunk=INTERP_CHUNK, block_d=INTERP_BLOCK_D,
    )


def _compare(fn, x, *, softplus: bool, ret_last: bool, rtol: float, atol: float, ref_x=None) -> None:
    batch, d, L = x["u"].shape
    n = x["A"].shape[1]
    gen = torch.Generator().manual_seed(1)
    g_out = torch.randn(batch, d, L, generator=gen).to(device=x["u"].device, dtype=x["u"].dtype)
    g_last = torch.randn(batch, d, n, generator=gen).to(x["u"].device)
    kw = dict(delta_softplus=softplus, return_last_state=ret_last, grad_out=g_out, grad_last=g_last)
    outs, grads = run_with_grads(fn, x, **kw)
    ref_outs, ref_grads = run_with_grads(selective_scan_ref, ref_x or x, **kw)
    assert outs[0].dtype == x["u"].dtype
    for i, (o, r) in enumerate(zip(outs, ref_outs, strict=True)):
        assert o.shape == r.shape
        assert_close_scaled(o.float(), r.float(), rtol=rtol, atol=atol, name=f"output {i}")
    assert grads.keys() == ref_grads.keys()
    for name, ref in ref_grads.items():
        assert grads[name].dtype == x[name].dtype
        assert_close_scaled(grads[name].float(), ref.float(), rtol=rtol, atol=atol, name=f"d{name}")


@pytest.mark.parametrize(
    ("batch", "d", "n", "L", "groups", "has_D", "has_z", "has_bias", "has_h0", "ret_last"), INTERP_CASES
)
def test_triton_interpreter_matches_reference_fp32(
    batch: int, d: int, n: int, L: int, groups: int | None, has_D: bool, has_z: bool, has_bias: bool,
    has_h0: bool, ret_last: bool,
) -> None:
    x = make_scan_inputs(
        batch, d, n, L, groups=groups, has_D=has_D, has_z=has_z, has_bias=has_bias, has_h0=has_h0, device=_device()
    )
    _compare(_triton_interp, x, softplus=has_bias, ret_last=ret_last, rtol=1e-4, atol=1e-5)


def test_triton_interpreter_matches_reference_bf16() -> None:
    # bf16 in/out, fp32 inside; vs the fp32 reference on the same bf16-rounded inputs; tol 1e-2.
    x = make_scan_inputs(1, 4, 4, 19, has_h0=True, dtype=torch.bfloat16, device=_device())
    x32 = {k: (v.float() if v is not None else None) for k, v in x.items()}
    _compare(_triton_interp, x, softplus=True, ret_last=True, rtol=1e-2, atol=1e-2, ref_x=x32)


def test_triton_interpreter_matches_reference_at_gpu_tile_sizes() -> None:
    # The launch configuration a GPU gets (d_state 16: CHUNK 32, one channel per program, 4 warps),
    # not the small interpreter tiles above: two chunks, the second partial.
    x = make_scan_inputs(1, 2, 16, 40, has_h0=True, device=_device())
    _compare(selective_scan_triton_auto, x, softplus=True, ret_last=True, rtol=1e-4, atol=1e-5)


def selective_scan_triton_auto(**kw):
    from genomamba.kernels.triton_scan import config_for, selective_scan_triton

    cfg = config_for(kw["u"], kw["A"], kw["B"])
    assert (cfg.chunk, cfg.fwd_block_d, cfg.bwd_block_d) == (32, 1, 1)
    return selective_scan_triton(**kw)


def test_dispatch_triton_backend_runs_the_triton_function() -> None:
    x = make_scan_inputs(1, 2, 2, 3, device=_device())
    x["u"].requires_grad_()
    out = selective_scan(**x, backend="triton")
    assert type(out.grad_fn).__name__.startswith("SelectiveScanTritonFn")
    assert_close_scaled(out, selective_scan_ref(**x), rtol=1e-4, atol=1e-5, name="out")


# (dtype, rtol/atol scale) — mamba's dtype table; bf16 compared with the fp32 reference on the
# bf16-rounded inputs.
GPU_DTYPES = [(torch.float32, 6e-4), (torch.float16, 5e-3), (torch.bfloat16, 5e-2)]


@pytest.mark.gpu
@pytest.mark.parametrize(("dtype", "tol"), GPU_DTYPES)
@pytest.mark.parametrize(("L", "n", "groups"), [(1, 16, None), (217, 16, None), (1000, 16, 2), (127, 1, None)])
def test_triton_cuda_matches_reference(dtype: torch.dtype, tol: float, L: int, n: int, groups: int | None) -> None:
    x = make_scan_inputs(2, 96, n, L, groups=groups, has_h0=True, dtype=dtype, device="cuda")
    ref_x = {k: (v.float() if v is not None else None) for k, v in x.items()}
    _compare(
        lambda **kw: selective_scan(**kw, backend="auto"), x, softplus=True, ret_last=True,
        rtol=tol, atol=tol, ref_x=ref_x,
    )
