"""Dispatch: backend choice, lazy triton import, and KernelInputError for bad inputs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from genomamba.kernels import selective_scan, selective_scan_ref, selective_state_update
from scan_helpers import make_scan_inputs

from genomamba.errors import GenomambaError, KernelInputError


def _inputs() -> dict[str, torch.Tensor | None]:
    return make_scan_inputs(2, 4, 3, 10, has_h0=True)


# (argument, replacement builder, text the message must contain)
BAD_SHAPES = [
    ("u", lambda x: x["u"][0], "`u` must have shape (batch, d, L)"),
    ("delta", lambda x: x["delta"][:, :, :9], "`delta` must have shape (batch, d, L) = (2, 4, 10), got (2, 4, 9)"),
    ("A", lambda x: x["A"][:3], "`A` must have shape (d, n) with d=4, got (3, 3)"),
    ("B", lambda x: x["B"][:, :2], "`B` must have shape (batch, n, L) = (2, 3, 10), got (2, 2, 10)"),
    ("C", lambda x: x["C"].unsqueeze(1).expand(2, 3, 3, 10), "grouped `C` has 3 groups, which does not divide d=4"),
    ("D", lambda x: x["D"][:3], "`D` must have shape (d,) = (4,), got (3,)"),
    ("z", lambda x: x["z"].transpose(1, 2), "`z` must have shape (batch, d, L) = (2, 4, 10), got (2, 10, 4)"),
    ("delta_bias", lambda x: x["delta_bias"][None], "`delta_bias` must have shape (d,) = (4,), got (1, 4)"),
    ("initial_state", lambda x: x["initial_state"][:1], "`initial_state` must have shape (batch, d, n) = (2, 4, 3)"),
]


@pytest.mark.parametrize(("name", "make_bad", "message"), BAD_SHAPES, ids=[c[0] for c in BAD_SHAPES])
def test_bad_shapes_raise_kernel_input_error(name: str, make_bad, message: str) -> None:
    x = _inputs()
    x[name] = make_bad(x)
    with pytest.raises(KernelInputError) as info:
        selective_scan(**x)
    assert message in str(info.value)
    assert isinstance(info.value, GenomambaError)


def test_b_and_c_must_match() -> None:
    x = _inputs()
    x["C"] = x["C"].unsqueeze(1)
    with pytest.raises(KernelInputError, match="`B` and `C` must have the same shape"):
        selective_scan(**x)


@pytest.mark.parametrize(
    ("name", "dtype", "message"),
    [
        ("u", torch.int64, "`u` must be float16/bfloat16/float32/float64, got torch.int64"),
        ("delta", torch.float64, "`delta` must have dtype torch.float32 like `u`, got torch.float64"),
        ("z", torch.bfloat16, "`z` must have dtype torch.float32 like `u`, got torch.bfloat16"),
    ],
)
def test_bad_dtypes_raise(name: str, dtype: torch.dtype, message: str) -> None:
    x = _inputs()
    x[name] = x[name].to(dtype)
    with pytest.raises(KernelInputError) as info:
        selective_scan(**x)
    assert message in str(info.value)


def test_mismatched_device_raises() -> None:
    x = _inputs()
    x["A"] = x["A"].to("meta")
    with pytest.raises(KernelInputError, match="`A` is on meta but `u` is on cpu"):
        selective_scan(**x)


def test_unknown_backend_and_cpu_backend_misuse() -> None:
    x = _inputs()
    with pytest.raises(KernelInputError, match="unknown backend 'cuda'"):
        selective_scan(**x, backend="cuda")
    meta = {k: (v.to("meta") if v is not None else None) for k, v in x.items()}
    with pytest.raises(KernelInputError, match="backend='cpu' needs CPU tensors"):
        selective_scan(**meta, backend="cpu")


def test_triton_backend_rejects_float64() -> None:
    x = {k: (v.double() if v is not None else None) for k, v in _inputs().items()}
    with pytest.raises(KernelInputError, match="for float64 inputs use backend='cpu'"):
        selective_scan(**x, backend="triton")


@pytest.mark.parametrize("backend", ["auto", "cpu", "reference"])
def test_cpu_backends_agree_and_return_mamba_convention(backend: str) -> None:
    x = _inputs()
    out = selective_scan(**x, backend=backend)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4, 10)
    out2, last = selective_scan(**x, return_last_state=True, backend=backend)
    ref, ref_last = selective_scan_ref(**x, return_last_state=True)
    torch.testing.assert_close(out2, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(last, ref_last, rtol=1e-4, atol=1e-5)


def test_state_update_shape_errors() -> None:
    x = _inputs()
    args = [x["initial_state"], x["u"][..., 0], x["delta"][..., 0], x["A"], x["B"][..., 0], x["C"][..., 0]]
    bad = list(args)
    bad[4] = x["B"][:, :2, 0]
    with pytest.raises(KernelInputError, match=r"`B` must have shape \(batch, n\) = \(2, 3\)"):
        selective_state_update(*bad)
    bad = list(args)
    bad[0] = x["initial_state"][:, :, :2]
    with pytest.raises(KernelInputError, match=r"`state` must have shape \(2, 4, 3\), got \(2, 4, 2\)"):
        selective_state_update(*bad)


def test_importing_kernels_does_not_import_triton() -> None:
    code = "import sys, genomamba.kernels; assert 'triton' not in sys.modules, 'triton imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)
