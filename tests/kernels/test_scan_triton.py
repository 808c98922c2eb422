"""Triton kernels against the reference: small shapes with a small chunk (several chunks per
sequence) through the Triton interpreter on CPU, or natively where CUDA exists; larger shapes incl.
fp16/bf16 on CUDA only (``gpu`` marker). Both implementations: ``triton_scan`` ("v1") and
``triton_scan_chunked`` ("chunked"), which ``GENOMAMBA_TRITON_SCAN`` selects."""

from __future__ import annotations

import contextlib
import functools

import pytest
import torch
from genomamba.kernels import selective_scan, selective_scan_ref
from genomamba.kernels.dispatch import TRITON_SCAN_ENV
from scan_helpers import assert_close_scaled, make_scan_inputs, run_with_grads
from triton_interp import fast_interpreter_scan

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


# ---------------------------------------------------------------------------------------------
# The chunked kernels (triton_scan_chunked) in the interpreter. Small chunks so that sequences span
# several chunks (the last one partial), small channel blocks so that d leaves a partial block.
# The interpreter's element-by-element scan is replaced by the same scan in log2(n) vectorised
# steps (tests/triton_interp.py) except in one test, which runs Triton's own.


def _chunked(**overrides):
    from genomamba.kernels.triton_scan_chunked import selective_scan_chunked

    return functools.partial(selective_scan_chunked, **overrides)


@pytest.fixture
def fast_scan():
    with fast_interpreter_scan() if _device() == "cpu" else contextlib.nullcontext():
        yield


# (batch, d, n, L, groups, has_D, has_z, has_bias_softplus, has_h0, return_last_state, overrides).
# The interpreter's cost grows with programs x chunks x states, so each case is as small as what it
# checks allows.
CHUNKED_CASES = {
    "odd_L217_every_option": (1, 3, 2, 217, None, True, True, True, True, True, dict(chunk=64, block_d=4)),
    "batch2_partial_block": (2, 3, 2, 20, None, True, True, True, True, True, dict(chunk=16, block_d=2)),
    "L1_no_options": (1, 3, 1, 1, None, False, False, False, False, False, dict(chunk=8, block_d=2)),
    "groups_no_z": (1, 4, 2, 37, 2, True, False, True, False, True, dict(chunk=16, block_d=2)),
    "no_D_z_bias": (1, 2, 2, 33, None, False, False, False, True, True, dict(chunk=16, block_d=2)),
    "L_multiple_of_chunk": (1, 2, 2, 32, None, True, True, False, False, False, dict(chunk=16, block_d=2)),
    "split_L_3_segments": (1, 2, 2, 80, None, True, True, True, True, True, dict(chunk=16, block_d=2, segments=3)),
    "split_L_uneven": (1, 2, 2, 45, None, False, True, True, False, True, dict(chunk=8, block_d=2, segments=4)),
}


@pytest.mark.parametrize(
    ("batch", "d", "n", "L", "groups", "has_D", "has_z", "has_bias", "has_h0", "ret_last", "overrides"),
    list(CHUNKED_CASES.values()), ids=list(CHUNKED_CASES),
)
def test_chunked_matches_reference_fp32(
    batch: int, d: int, n: int, L: int, groups: int | None, has_D: bool, has_z: bool, has_bias: bool,
    has_h0: bool, ret_last: bool, overrides: dict, fast_scan,
) -> None:
    x = make_scan_inputs(
        batch, d, n, L, groups=groups, has_D=has_D, has_z=has_z, has_bias=has_bias, has_h0=has_h0, device=_device()
    )
    _compare(_chunked(**overrides), x, softplus=has_bias, ret_last=ret_last, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.bfloat16, 1e-2), (torch.float16, 2e-3)], ids=["bf16", "fp16"])
def test_chunked_matches_reference_half_inputs(dtype: torch.dtype, tol: float, fast_scan) -> None:
    # bf16 / fp16 in and out (gradients too), fp32 inside; vs the fp32 reference on the same rounded inputs.
    x = make_scan_inputs(1, 2, 2, 45, has_h0=True, dtype=dtype, device=_device())
    x32 = {k: (v.float() if v is not None else None) for k, v in x.items()}
    _compare(_chunked(chunk=16, block_d=2, segments=2), x, softplus=True, ret_last=True, rtol=tol, atol=tol, ref_x=x32)


def test_chunked_at_gpu_tile_sizes(fast_scan) -> None:
    # The configuration a GPU gets by default (launch_config.chunked_scan_config), not small test
    # tiles: two chunks of 1,024 steps, the second partial.
    from genomamba.kernels.launch_config import CHUNKED_BLOCK_D, CHUNKED_CHUNK
    from genomamba.kernels.triton_scan_chunked import config_for

    x = make_scan_inputs(1, 4, 2, 1100, has_h0=True, device=_device())
    cfg = config_for(x["u"], x["A"], x["B"])
    assert (cfg.chunk, cfg.fwd_block_d, cfg.bwd_block_d) == (CHUNKED_CHUNK, CHUNKED_BLOCK_D, CHUNKED_BLOCK_D)
    _compare(_chunked(), x, softplus=True, ret_last=True, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a compiler bug in the interpreter (CPU only)")
def test_position_ordered_reverse_scan_survives_swapped_operands() -> None:
    """triton-lang/triton#4362: reverse scans have passed a non-commutative combine its operands in
    the other order on GPUs. Simulated here: the plain combine then gives wrong gradients, the
    position-ordered one (``safe_reverse=True``) the reference's."""
    x = make_scan_inputs(1, 2, 2, 40, has_h0=True)
    with fast_interpreter_scan(swap_reverse_operands=True):
        _compare(_chunked(chunk=16, block_d=2, safe_reverse=True), x, softplus=True, ret_last=True,
                 rtol=1e-4, atol=1e-5)
        with pytest.raises(AssertionError, match="Tensor-likes are not close"):
            _compare(_chunked(chunk=16, block_d=2, safe_reverse=False), x, softplus=True, ret_last=True,
                     rtol=1e-4, atol=1e-5)


def test_chunked_with_the_interpreters_own_scan() -> None:
    # Triton's element-by-element interpreter scan (no stand-in), both reverse-scan variants.
    x = make_scan_inputs(1, 2, 2, 12, has_h0=True, device=_device())
    for safe in (False, True):
        _compare(_chunked(chunk=8, block_d=2, safe_reverse=safe), x, softplus=True, ret_last=True,
                 rtol=1e-4, atol=1e-5)


def test_chunked_only_last_state_used(fast_scan) -> None:
    # The output unused (None gradient): the backward gets dout = 0 and only dlast.
    x = make_scan_inputs(1, 2, 2, 30, has_h0=True, device=_device())
    leaves = {k: v.clone().requires_grad_() for k, v in x.items() if v is not None}
    _, last = _chunked(chunk=16, block_d=2)(**leaves, delta_softplus=True, return_last_state=True)
    last.sum().backward()
    ref = {k: v.clone().requires_grad_() for k, v in x.items() if v is not None}
    _, ref_last = selective_scan_ref(**ref, delta_softplus=True, return_last_state=True)
    ref_last.sum().backward()
    for k in leaves:
        # C, D and z do not reach the last state: the reference leaves them without gradient.
        expected = ref[k].grad if ref[k].grad is not None else torch.zeros_like(ref[k])
        assert_close_scaled(leaves[k].grad, expected, rtol=1e-4, atol=1e-5, name=f"d{k}")


@pytest.mark.parametrize("impl", ["v1", "chunked"])
def test_dispatch_runs_the_selected_triton_implementation(impl: str, monkeypatch: pytest.MonkeyPatch, fast_scan) -> None:
    monkeypatch.setenv(TRITON_SCAN_ENV, impl)
    x = make_scan_inputs(1, 2, 2, 3, device=_device())
    x["u"].requires_grad_()
    out = selective_scan(**x, backend="triton")
    fn = {"v1": "SelectiveScanTritonFn", "chunked": "SelectiveScanChunkedFn"}[impl]
    assert type(out.grad_fn).__name__.startswith(fn)
    assert_close_scaled(out, selective_scan_ref(**x), rtol=1e-4, atol=1e-5, name="out")


def test_dispatch_rejects_an_unknown_triton_implementation(monkeypatch: pytest.MonkeyPatch) -> None:
    from genomamba.errors import KernelInputError

    monkeypatch.setenv(TRITON_SCAN_ENV, "v2")
    x = make_scan_inputs(1, 2, 2, 3, device=_device())
    with pytest.raises(KernelInputError, match=r"GENOMAMBA_TRITON_SCAN='v2' .* one of \['chunked', 'v1'\]"):
        selective_scan(**x, backend="triton")


# (dtype, rtol/atol scale) — mamba's dtype table; bf16 compared with the fp32 reference on the
# bf16-rounded inputs.
GPU_DTYPES = [(torch.float32, 6e-4), (torch.float16, 5e-3), (torch.bfloat16, 5e-2)]


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["v1", "chunked"])
@pytest.mark.parametrize(("dtype", "tol"), GPU_DTYPES)
@pytest.mark.parametrize(("L", "n", "groups"), [(1, 16, None), (217, 16, None), (1000, 16, 2), (127, 1, None),
                                                (4500, 16, None)])
def test_triton_cuda_matches_reference(
    impl: str, dtype: torch.dtype, tol: float, L: int, n: int, groups: int | None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TRITON_SCAN_ENV, impl)
    x = make_scan_inputs(2, 96, n, L, groups=groups, has_h0=True, dtype=dtype, device="cuda")
    ref_x = {k: (v.float() if v is not None else None) for k, v in x.items()}
    _compare(
        lambda **kw: selective_scan(**kw, backend="auto"), x, softplus=True, ret_last=True,
        rtol=tol, atol=tol, ref_x=ref_x,
    )


# Chunked variants a GPU run must check beyond the defaults: a forced L split (the segment passes),
# other tile shapes, no optional inputs. The plain reverse combine (``safe_reverse=False``) is not a
# test here: whether this GPU's compiler orders reverse-scan operands as the interpreter does is what
# `bench_scan.py --check-plain-reverse` (in make gpu-check) finds out.
CHUNKED_GPU_VARIANTS = {
    "defaults": dict(),
    "split_L_5_segments": dict(segments=5),
    "chunk_2048_block_1": dict(chunk=2048, block_d=1),
    "chunk_512_block_8": dict(chunk=512, block_d=8),
}


@pytest.mark.gpu
@pytest.mark.parametrize(("dtype", "tol"), [GPU_DTYPES[0], GPU_DTYPES[2]], ids=["fp32", "bf16"])
@pytest.mark.parametrize(("L", "opts"), [(3001, dict(has_h0=True)), (700, dict(has_D=False, has_z=False, has_bias=False))],
                         ids=["L3001_every_option", "L700_no_options"])
def test_chunked_cuda_variants_match_reference(dtype: torch.dtype, tol: float, L: int, opts: dict) -> None:
    x = make_scan_inputs(2, 64, 16, L, dtype=dtype, device="cuda", **opts)
    ref_x = {k: (v.float() if v is not None else None) for k, v in x.items()}
    gen = torch.Generator().manual_seed(1)
    kw = dict(delta_softplus=opts.get("has_bias", True), return_last_state=True,
              grad_out=torch.randn(2, 64, L, generator=gen).to("cuda", dtype),
              grad_last=torch.randn(2, 64, 16, generator=gen).to("cuda"))
    ref_outs, ref_grads = run_with_grads(selective_scan_ref, ref_x, **kw)  # once for every variant
    for name, overrides in CHUNKED_GPU_VARIANTS.items():
        outs, grads = run_with_grads(_chunked(**overrides), x, **kw)
        for i, (o, r) in enumerate(zip(outs, ref_outs, strict=True)):
            assert_close_scaled(o.float(), r, rtol=tol, atol=tol, name=f"{name}: output {i}")
        assert grads.keys() == ref_grads.keys()
        for k, r in ref_grads.items():
            assert grads[k].dtype == x[k].dtype
            assert_close_scaled(grads[k].float(), r, rtol=tol, atol=tol, name=f"{name}: d{k}")
