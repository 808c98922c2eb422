"""CUDA runs (Triton scan) agree with the CPU model; skipped without a GPU."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from genomamba.models import GenomambaConfig, GenomambaLM


@pytest.mark.gpu
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"attn_layers": [1], "attn_window": 8, "attn_heads": 2},
        {"rc_equivariant": True, "bidirectional": True},
    ],
)
def test_cuda_matches_cpu(kw) -> None:
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=32, n_layer=2, **kw)).eval()
    ids = torch.randint(0, 5, (3, 217))
    mask = torch.arange(217)[None] < torch.tensor([217, 100, 31])[:, None]
    cpu = model(ids, attention_mask=mask).logits
    gpu_model = model.cuda()
    gpu = gpu_model(ids.cuda(), attention_mask=mask.cuda()).logits.cpu()
    real = mask[..., None].expand_as(cpu)
    assert_close(gpu[real], cpu[real], atol=2e-3, rtol=2e-3)
    loss = gpu_model(ids.cuda()).logits.float().logsumexp(-1).mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in gpu_model.parameters() if p.grad is not None)


@pytest.mark.gpu
def test_cuda_streaming_and_bf16() -> None:
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
