"""The model's CUDA code path on CPU: GenomambaLM with the scan forced onto the Triton kernels
(Triton interpreter, TRITON_INTERPRET=1 from the root conftest) and the conv on the cuDNN-style
``F.conv1d`` branch, against the default numba CPU path: logits and every parameter gradient.
Both Triton implementations (``GENOMAMBA_TRITON_SCAN`` v1 and chunked); the chunked one with the
interpreter's scan replaced by the same scan in log2(n) vectorised steps (tests/triton_interp.py).

This checks the glue a GPU run depends on (layouts, contiguity, dtype casts, state passing, the
autograd wiring) before a GPU is available. Tiny shapes and a small CHUNK: the interpreter runs
scans and flips element by element in Python (about 5 ms per state element per backward), so
the chunk is 8 here (several chunks per sequence) instead of the GPU's 64; the kernels at the
GPU's tile sizes are compared with the reference in tests/kernels/test_scan_triton.py.
"""

from __future__ import annotations

import functools
import os

import pytest
import torch
import torch.nn.functional as F
from genomamba.kernels import selective_scan, triton_scan
from genomamba.kernels.cpu_conv import causal_conv_silu_ref
from genomamba.kernels.dispatch import TRITON_SCAN_ENV
from triton_interp import fast_interpreter_scan

from genomamba.models import GenomambaConfig, GenomambaLM
from genomamba.models import mixer as mixer_mod

INTERP_CHUNK = 8
# On a CUDA machine the root conftest leaves TRITON_INTERPRET unset and the real path is checked
# by test_model_gpu.py; CPU CI always runs these.
pytestmark = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") != "1",
    reason="runs the Triton kernel through the interpreter on CPU (TRITON_INTERPRET=1, set without CUDA)",
)

VARIANTS = {
    "causal": {"n_layer": 1},
    "bidirectional": {"n_layer": 1, "bidirectional": True},
    "hybrid": {"n_layer": 2, "attn_layers": [1], "attn_window": 4, "attn_heads": 2},
    "ssm_periodic": {"n_layer": 1, "ssm_periods": [3]},
}
# The chunked kernels through the same model features (RC-equivariant bidirectional in place of
# plain bidirectional), fewer dtype combinations to keep the interpreter's time down.
CHUNKED_VARIANTS = {
    "causal-fp32": ({"n_layer": 1}, False),
    "rc_bidirectional-fp32": ({"n_layer": 1, "bidirectional": True, "rc_equivariant": True}, False),
    "hybrid-bf16_autocast": ({"n_layer": 2, "attn_layers": [1], "attn_window": 4, "attn_heads": 2}, True),
    "ssm_periodic-bf16_autocast": ({"n_layer": 1, "ssm_periods": [3]}, True),
}


def _conv_as_on_cuda(xcat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    # The branch causal_depthwise_conv takes for CUDA tensors.
    return F.conv1d(xcat.transpose(1, 2), weight, bias, groups=weight.shape[0]).transpose(1, 2)


@pytest.fixture
def cuda_path(monkeypatch: pytest.MonkeyPatch):
    """The conv takes its CUDA branch in both runs (under autocast it then yields bf16 as on a GPU);
    calling the returned function switches the mixers' scan to a Triton implementation (through
    the dispatch, with its input checks and its GENOMAMBA_TRITON_SCAN setting)."""
    monkeypatch.setattr(mixer_mod, "causal_depthwise_conv", _conv_as_on_cuda)
    # the mixer's conv + silu as on CUDA (torch), not the fused numba kernel of CPU tensors
    monkeypatch.setattr(mixer_mod, "causal_conv_silu", causal_conv_silu_ref)

    def use(impl: str = "v1") -> None:
        monkeypatch.setattr(mixer_mod, "selective_scan", functools.partial(selective_scan, backend="triton"))
        monkeypatch.setenv(TRITON_SCAN_ENV, impl)
        if impl == "v1":
            monkeypatch.setattr(
                triton_scan, "selective_scan_triton",
                functools.partial(triton_scan.selective_scan_triton, chunk=INTERP_CHUNK),
            )
        else:
            from genomamba.kernels import triton_scan_chunked

            monkeypatch.setattr(
                triton_scan_chunked, "selective_scan_chunked",
                # One channel block and one segment per sequence: the interpreter's time grows with
                # programs; blocks, segments and chunk carries are checked in tests/kernels.
                functools.partial(triton_scan_chunked.selective_scan_chunked, chunk=INTERP_CHUNK, block_d=8,
                                  segments=1),
            )

    return use


def _run(model: GenomambaLM, ids: torch.Tensor, mask: torch.Tensor, bf16: bool):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(ids, attention_mask=mask).logits
        # Cross-entropy on real positions, as training does.
        loss = F.cross_entropy(logits[mask].float(), ids[mask])
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return logits.detach().float(), grads


def _assert_close(got: torch.Tensor, ref: torch.Tensor, tol: float, name: str) -> None:
    scale = max(1.0, ref.abs().max().item())
    torch.testing.assert_close(got, ref, rtol=tol, atol=tol * scale, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16_autocast"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_triton_path_matches_numba_path(variant: str, bf16: bool, cuda_path) -> None:
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=4, d_state=4, **VARIANTS[variant])).train()
    ids = torch.randint(0, 5, (2, 13), generator=torch.Generator().manual_seed(1))
    mask = torch.arange(13)[None] < torch.tensor([13, 6])[:, None]  # right padding in sample 1
    ref_logits, ref_grads = _run(model, ids, mask, bf16)
    cuda_path()
    with fast_interpreter_scan():
        logits, grads = _run(model, ids, mask, bf16)
    # fp32: both paths compute the scan in fp32. bf16: the scan's bf16 output rounds independently
    # on each path (one bf16 ulp is 2^-8), and the difference passes through the later layers.
    tol = 2e-2 if bf16 else 1e-4
    real = mask[..., None].expand_as(logits)
    _assert_close(logits[real], ref_logits[real], tol, "logits")
    assert grads.keys() == ref_grads.keys() and len(grads) == len(list(model.parameters()))
    for name, ref in ref_grads.items():
        _assert_close(grads[name], ref, 5 * tol if bf16 else tol, f"grad {name}")


@pytest.mark.parametrize("case", list(CHUNKED_VARIANTS))
def test_chunked_triton_path_matches_numba_path(case: str, cuda_path) -> None:
    kw, bf16 = CHUNKED_VARIANTS[case]
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=4, d_state=4, **kw)).train()
    ids = torch.randint(0, 5, (2, 13), generator=torch.Generator().manual_seed(1))
    mask = torch.arange(13)[None] < torch.tensor([13, 6])[:, None]
    ref_logits, ref_grads = _run(model, ids, mask, bf16)
    cuda_path("chunked")
    with fast_interpreter_scan():
        logits, grads = _run(model, ids, mask, bf16)
    tol = 2e-2 if bf16 else 1e-4
    real = mask[..., None].expand_as(logits)
    _assert_close(logits[real], ref_logits[real], tol, "logits")
    assert grads.keys() == ref_grads.keys() and len(grads) == len(list(model.parameters()))
    for name, ref in ref_grads.items():
        _assert_close(grads[name], ref, 5 * tol if bf16 else tol, f"grad {name}")


@pytest.mark.parametrize("impl", ["v1", "chunked"])
def test_triton_path_streaming_state_matches_numba_path(impl: str, cuda_path) -> None:
    """Chunked inference with the carried (conv, ssm) state: initial_state in, last state out."""
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=4, d_state=4, n_layer=1)).eval()
    ids = torch.randint(0, 5, (2, 20), generator=torch.Generator().manual_seed(2))

    def pieces() -> torch.Tensor:
        state, out = model.allocate_state(2), []
        for s in range(0, 20, 10):
            res = model(ids[:, s : s + 10], state=state, return_state=True)
            state = res.state
            out.append(res.logits)
        return torch.cat(out, 1)

    with torch.no_grad():
        ref = pieces()
        cuda_path(impl)
        with fast_interpreter_scan():
            got = pieces()
    _assert_close(got, ref, 1e-4, "streamed logits")
