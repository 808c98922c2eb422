"""Pooling per-position hidden states over the real (non-padding) positions of a batch.

The one home for masked pooling: the inference API, fine-tuning and the downstream
feature extractors all pool through these, so padding is ignored the same way everywhere.

>>> import torch
>>> hidden = torch.tensor([[[1.0], [3.0], [100.0]]])  # (B=1, L=3, D=1); the last position is padding
>>> masked_mean(hidden, torch.tensor([[True, True, False]])).tolist()
[[2.0]]
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["masked_mean", "masked_sum"]


def masked_sum(hidden: Tensor, mask: Tensor) -> Tensor:
    """Sum of ``hidden`` (B, L, D) over the positions where ``mask`` (B, L) is true -> (B, D).

    Padding positions are multiplied by zero, so whatever a model left there never leaks in.
    Streaming callers accumulate these sums chunk by chunk and divide once at the end.
    """
    return (hidden * mask.to(hidden.dtype)[..., None]).sum(1)


def masked_mean(hidden: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of ``hidden`` (B, L, D) over the real positions of ``mask`` (B, L) -> (B, D).

    ``mask`` None means every position is real. A row without any real position gives zeros
    (its count is clamped to 1) rather than NaN.
    """
    if mask is None:
        return hidden.mean(1)
    count = mask.to(hidden.dtype).sum(1, keepdim=True).clamp_min(1.0)  # (B, 1)
    return masked_sum(hidden, mask) / count
