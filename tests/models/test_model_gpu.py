"""CUDA runs (Triton scan) agree with the CPU model; skipped without a GPU. Every model feature that
calls the scan, through both Triton implementations (``GENOMAMBA_TRITON_SCAN`` v1 and chunked)."""

from __future__ import annotations

import pytest
import torch
from genomamba.kernels.dispatch import TRITON_SCAN_ENV
from torch.testing import assert_close

from genomamba.models import GenomambaConfig, GenomambaLM

IMPLS = ["v1", "chunked"]


@pytest.fixture(params=IMPLS)
def triton_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TRITON_SCAN_ENV, request.param)
    return request.param


@pytest.mark.gpu
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"attn_layers": [1], "attn_window": 8, "attn_heads": 2},
        {"rc_equivariant": True, "bidirectional": True},
        {"bidirectional": True},
        {"ssm_periods": [3], "d_state": 14},
        {"relative_track": True},
    ],
    ids=["causal", "hybrid", "rc_bidirectional", "bidirectional", "periodic_states", "relative_track"],
)
def test_cuda_matches_cpu(kw, triton_impl: str) -> None:
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=32, n_layer=2, **kw)).eval()
    if kw.get("relative_track"):
        with torch.no_grad():  # the track table starts at zero; make it matter
            model.backbone.track_embeddings.weight.normal_(0, 0.5)
    ids = torch.randint(0, 5, (3, 217))
    track = torch.randint(0, 5, (3, 217)) if kw.get("relative_track") else None
    mask = torch.arange(217)[None] < torch.tensor([217, 100, 31])[:, None]
    extra = {} if track is None else {"track_ids": track}
    cpu = model(ids, attention_mask=mask, **extra).logits
    gpu_model = model.cuda()
    gpu_extra = {k: v.cuda() for k, v in extra.items()}
    gpu = gpu_model(ids.cuda(), attention_mask=mask.cuda(), **gpu_extra).logits.cpu()
    real = mask[..., None].expand_as(cpu)
    assert_close(gpu[real], cpu[real], atol=2e-3, rtol=2e-3)
    loss = gpu_model(ids.cuda(), **gpu_extra).logits.float().logsumexp(-1).mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in gpu_model.parameters() if p.grad is not None)


@pytest.mark.gpu
def test_cuda_gradients_match_cpu(triton_impl: str) -> None:
    # Every parameter's gradient of a training loss, CUDA (Triton scan, cuDNN conv) against CPU.
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=32, n_layer=2, ssm_periods=[3], d_state=14)).train()
    ids = torch.randint(0, 4, (2, 300))

    def grads(m: GenomambaLM, x: torch.Tensor) -> dict[str, torch.Tensor]:
        m.zero_grad(set_to_none=True)
        logits = m(x).logits
        torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), x[:, 1:].reshape(-1)).backward()
        return {k: p.grad.detach().cpu() for k, p in m.named_parameters() if p.grad is not None}

    ref = grads(model, ids)
    got = grads(model.cuda(), ids.cuda())
    assert got.keys() == ref.keys()
    for k, r in ref.items():
        scale = max(1.0, r.abs().max().item())
        assert_close(got[k], r, atol=2e-3 * scale, rtol=2e-3, msg=lambda m, k=k: f"grad {k}: {m}")


@pytest.mark.gpu
def test_cuda_streaming_and_bf16(triton_impl: str) -> None:
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=32, n_layer=2, attn_layers=[0], attn_window=16)).cuda().eval()
    ids = torch.randint(0, 4, (2, 100), device="cuda")
    full = model(ids).logits
    state, pieces = model.allocate_state(2), []
    for s in range(0, 100, 33):
        out = model(ids[:, s : s + 33], state=state, return_state=True)
        state = out.state
        pieces.append(out.logits)
    assert_close(torch.cat(pieces, 1), full, atol=1e-4, rtol=1e-4)
    bf = model.to(torch.bfloat16)
    assert torch.isfinite(bf(ids).logits.float()).all()
    assert bf.generate(ids[:, :5], 8).shape == (2, 13)


@pytest.mark.gpu
def test_cuda_streaming_periodic_states_long(triton_impl: str) -> None:
    # Streaming from a carried state through several scan chunks (1,500 steps per call) with
    # complex (periodic) states, whose carried state is rotated between calls.
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=32, n_layer=2, ssm_periods=[3], d_state=14)).cuda().eval()
    ids = torch.randint(0, 4, (2, 3000), device="cuda")
    with torch.no_grad():
        full = model(ids).logits
        state, pieces = model.allocate_state(2), []
        for s in range(0, 3000, 1500):
            out = model(ids[:, s : s + 1500], state=state, return_state=True)
            state = out.state
            pieces.append(out.logits)
    assert_close(torch.cat(pieces, 1), full, atol=1e-3, rtol=1e-3)
