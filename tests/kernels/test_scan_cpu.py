"""The numba CPU path against the reference: outputs and all gradients, fp32/bf16/fp64."""

from __future__ import annotations

import pytest
import torch
from genomamba.kernels import selective_scan, selective_scan_ref
from genomamba.kernels.cpu_scan import CHECKPOINT, selective_scan_cpu
from scan_helpers import assert_close_scaled, make_scan_inputs, run_with_grads

# (batch, d, n, L, groups, has_D, has_z, has_bias_softplus, has_h0, return_last_state)
CASES = [
    (1, 3, 1, 1, None, False, False, False, False, False),
    (2, 5, 4, 217, None, True, True, True, True, True),  # L = 3 * CHECKPOINT + 25
    (2, 6, 16, 130, 3, True, False, True, False, True),  # grouped B / C
    (1, 4, 16, CHECKPOINT, 2, False, True, False, True, False),  # L exactly one checkpoint chunk
    (2, 7, 4, 1, None, True, True, True, True, True),
    (1, 8, 16, 150, 8, True, True, True, True, True),  # one channel per group
    (2, 20, 4, 100, None, True, True, True, True, True),  # channel sub-blocks 8 + 8 + 4
    (1, 24, 4, 70, 2, True, True, True, False, True),  # 12 channels per group: sub-blocks 8 + 4
]


@pytest.mark.parametrize(("batch", "d", "n", "L", "groups", "has_D", "has_z", "has_bias", "has_h0", "ret_last"), CASES)
def test_cpu_matches_reference_fp32(
    batch: int, d: int, n: int, L: int, groups: int | None, has_D: bool, has_z: bool, has_bias: bool,
    has_h0: bool, ret_last: bool,
) -> None:
    x = make_scan_inputs(batch, d, n, L, groups=groups, has_D=has_D, has_z=has_z, has_bias=has_bias, has_h0=has_h0)
    gen = torch.Generator().manual_seed(1)
    g_out = torch.randn(batch, d, L, generator=gen)
    g_last = torch.randn(batch, d, n, generator=gen)
    kw = dict(delta_softplus=has_bias, return_last_state=ret_last, grad_out=g_out, grad_last=g_last)
    outs, grads = run_with_grads(selective_scan_cpu, x, **kw)
    ref_outs, ref_grads = run_with_grads(selective_scan_ref, x, **kw)
    for i, (o, r) in enumerate(zip(outs, ref_outs, strict=True)):
        assert o.dtype == r.dtype and o.shape == r.shape
        assert_close_scaled(o, r, rtol=1e-4, atol=1e-5, name=f"output {i}")
    assert grads.keys() == ref_grads.keys()
    for name, ref in ref_grads.items():
        assert_close_scaled(grads[name], ref, rtol=1e-4, atol=1e-5, name=f"d{name}")


def test_cpu_matches_reference_on_channel_last_views() -> None:
    # The model passes (batch, d, L) views of (batch, L, d) activations, z a slice of a wider
    # projection and B, C slices of x_proj's output. The kernel reads them in place; values and
    # gradients must equal the reference on contiguous copies.
    batch, d, n, L = 2, 12, 4, 90
    x = make_scan_inputs(batch, d, n, L, has_h0=True)
    proj = torch.cat([x["u"], x["z"]], dim=1).transpose(1, 2).contiguous().requires_grad_()  # (b, L, 2d)
    bc = torch.cat([x["B"], x["C"]], dim=1).transpose(1, 2).contiguous().requires_grad_()  # (b, L, 2n)
    delta = x["delta"].transpose(1, 2).contiguous().requires_grad_()  # (b, L, d)
    rest = {k: x[k].clone().requires_grad_() for k in ("A", "D", "delta_bias", "initial_state")}
    u = proj[..., :d].transpose(1, 2)
    assert not u.is_contiguous() and u.transpose(1, 2).stride(-1) == 1
    gen = torch.Generator().manual_seed(3)
    g_out, g_last = torch.randn(batch, d, L, generator=gen), torch.randn(batch, d, n, generator=gen)
    out, last = selective_scan_cpu(
        u, delta.transpose(1, 2), B=bc[..., :n].transpose(1, 2), C=bc[..., n:].transpose(1, 2),
        z=proj[..., d:].transpose(1, 2), delta_softplus=True, return_last_state=True, **rest,
    )
    ((out * g_out).sum() + (last * g_last).sum()).backward()
    kw = dict(delta_softplus=True, return_last_state=True, grad_out=g_out, grad_last=g_last)
    (ref_out, ref_last), ref_grads = run_with_grads(selective_scan_ref, x, **kw)
    assert_close_scaled(out, ref_out, rtol=1e-4, atol=1e-5, name="out")
    assert_close_scaled(last, ref_last, rtol=1e-4, atol=1e-5, name="last")
    got = {
        "u": proj.grad[..., :d].transpose(1, 2), "z": proj.grad[..., d:].transpose(1, 2),
        "B": bc.grad[..., :n].transpose(1, 2), "C": bc.grad[..., n:].transpose(1, 2),
        "delta": delta.grad.transpose(1, 2), **{k: v.grad for k, v in rest.items()},
    }
    assert got.keys() == ref_grads.keys()
    for name, ref in ref_grads.items():
        assert_close_scaled(got[name], ref, rtol=1e-4, atol=1e-5, name=f"d{name}")


def test_cpu_matches_reference_bf16() -> None:
    # bf16 inputs, fp32 accumulation, bf16 output: compared with the fp32 reference on the same
    # bf16-rounded inputs; tolerance 1e-2 (bf16 has an 8-bit mantissa, relative step 3.9e-3).
    x = make_scan_inputs(2, 6, 8, 150, has_h0=True, dtype=torch.bfloat16)
    x32 = {k: (v.float() if v is not None else None) for k, v in x.items()}
    g_out = torch.randn(2, 6, 150, generator=torch.Generator().manual_seed(2)).bfloat16()
    kw = dict(delta_softplus=True, return_last_state=False, grad_out=g_out, grad_last=None)
    outs, grads = run_with_grads(selective_scan_cpu, x, **kw)
    ref_outs, ref_grads = run_with_grads(selective_scan_ref, x32, **kw)
    assert outs[0].dtype == torch.bfloat16
    assert_close_scaled(outs[0], ref_outs[0], rtol=1e-2, atol=1e-2, name="output")
    for name, ref in ref_grads.items():
        assert grads[name].dtype == torch.bfloat16
        assert_close_scaled(grads[name], ref, rtol=1e-2, atol=1e-2, name=f"d{name}")


@pytest.mark.parametrize("groups", [None, 2])
def test_cpu_gradcheck_float64(groups: int | None) -> None:
    x = make_scan_inputs(1, 2, 2, 5, groups=groups, has_h0=True, dtype=torch.float64)
    leaves = [v.requires_grad_() for v in x.values()]

    def f(*args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return selective_scan_cpu(*args[:8], delta_softplus=True, return_last_state=True, initial_state=args[8])

    assert torch.autograd.gradcheck(f, leaves)


def test_auto_backend_on_cpu_uses_the_numba_path() -> None:
    x = make_scan_inputs(1, 3, 2, 10)
    x["u"].requires_grad_()
    out = selective_scan(**x)
    assert type(out.grad_fn).__name__.startswith("SelectiveScanCpuFn")


def test_cpu_inference_without_grad_matches_reference() -> None:
    x = make_scan_inputs(2, 4, 4, 100, has_h0=True)
    with torch.no_grad():
        out, last = selective_scan_cpu(**x, delta_softplus=True, return_last_state=True)
    ref, ref_last = selective_scan_ref(**x, delta_softplus=True, return_last_state=True)
    assert_close_scaled(out, ref, rtol=1e-4, atol=1e-5, name="out")
    assert_close_scaled(last, ref_last, rtol=1e-4, atol=1e-5, name="last")
