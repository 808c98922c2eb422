"""Layer building blocks of :class:`~genomamba.models.backbone.Backbone`: the pre-norm residual
:class:`Block` and the mixer wrappers for the bidirectional and RC-equivariant variants.

Every mixer maps hidden states ``(B, L, d)`` to ``((B, L, d), cache or None)``; the wrappers
compose an inner mixer (:class:`~genomamba.models.mixer.MambaMixer` or
:class:`~genomamba.models.attention.CausalSelfAttention`). Padding is on the right; ``lengths``
``(B,)`` counts each sample's real tokens (None = whole rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from genomamba.models.attention import AttnCache, AttnTimeline
from genomamba.models.mixer import MambaCache, MambaMixer, MambaTimeline, RMSNorm

__all__ = ["BiMixer", "Block", "LayerCache", "LayerTimeline", "RCPSMixer", "RCPSNorm", "flip_prefix", "rc_hidden"]

LayerCache = MambaCache | AttnCache
LayerTimeline = MambaTimeline | AttnTimeline


def flip_prefix(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sample's real prefix along dim 1, leaving right pads in place.

    x: (B, L, ...); lengths: (B,) or None (= whole rows). An involution.
    """
    if lengths is None:
        return x.flip(1)
    L = x.shape[1]
    t = torch.arange(L, device=x.device)
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, L)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


class BiMixer(nn.Module):
    """Forward scan + reverse scan over each sample's real prefix (separate weights).

    Unlike flipping the padded row, the reverse direction starts at the last real token, so
    it never sees pads. Combined by sum ("add") or concat + linear ("concat_proj").
    """

    def __init__(self, fwd: nn.Module, rev: nn.Module, d_model: int, combine: str) -> None:
        super().__init__()
        self.fwd = fwd
        self.rev = rev
        self.proj = nn.Linear(2 * d_model, d_model, bias=False) if combine == "concat_proj" else None

    def forward(self, x: Tensor, mask: Tensor | None = None, lengths: Tensor | None = None, **_: Any):
        """x: (B, L, d) -> ((B, L, d), None)."""
        y_f, _ = self.fwd(x, mask, lengths)
        y_r, _ = self.rev(flip_prefix(x, lengths), mask, lengths)
        y_r = flip_prefix(y_r, lengths)
        y = y_f + y_r if self.proj is None else self.proj(torch.cat([y_f, y_r], dim=-1))
        return y, None


def rc_hidden(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse complement of a hidden sequence: reversed real prefix, flipped channels."""
    return flip_prefix(x, lengths).flip(-1)


class RCPSMixer(nn.Module):
    """Reverse-complement parameter sharing (Schiff et al. 2024, "Caduceus", RCPS).

    Input (B, L, 2h) = [forward half | RC half]; the same inner module ``m`` (width h) runs on
    the forward half and on RC(RC half), and the latter output is reverse-complemented back:
    out = [m(a), RC(m(RC(b)))]. Then f(RC(x)) == RC(f(x)) for channel-flip + reversal.
    """

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor, mask: Tensor | None = None, lengths: Tensor | None = None, **_: Any):
        a, b = x.chunk(2, dim=-1)
        both = torch.cat([a, rc_hidden(b, lengths)], dim=0)  # one batched pass over 2B rows
        m2 = None if mask is None else mask.repeat(2, 1)
        l2 = None if lengths is None else lengths.repeat(2)
        y, _ = self.inner(both, m2, l2)
        y_a, y_b = y.chunk(2, dim=0)
        return torch.cat([y_a, rc_hidden(y_b, lengths)], dim=-1), None


class RCPSNorm(nn.Module):
    """RMSNorm with one weight shared by the forward half and the (channel-flipped) RC half."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, eps)

    @property
    def weight(self) -> Tensor:
        return self.norm.weight

    def forward(self, x: Tensor) -> Tensor:
        a, b = x.chunk(2, dim=-1)
        return torch.cat([self.norm(a), self.norm(b.flip(-1)).flip(-1)], dim=-1)


class Block(nn.Module):
    """Pre-norm residual block: h + mixer(norm(h)); the residual stream may stay in fp32."""

    def __init__(self, mixer: nn.Module, norm: nn.Module, residual_in_fp32: bool) -> None:
        super().__init__()
        self.norm = norm
        self.mixer = mixer
        self.residual_in_fp32 = residual_in_fp32

    def forward(
        self,
        h: Tensor,
        mask: Tensor | None,
        lengths: Tensor | None,
        cache: LayerCache | None = None,
        offsets: Tensor | None = None,
        return_cache: bool = False,
        checkpoints: Sequence[int] | None = None,
    ) -> tuple[Tensor, LayerCache | LayerTimeline | None]:
        """h: (B, L, d); mask: (B, L) bool or None; lengths, offsets: (B,) or None
        -> ((B, L, d), new cache or None; the layer's timeline with ``checkpoints``)."""
        extra = {} if checkpoints is None else {"checkpoints": checkpoints}
        y, new_cache = self.mixer(
            self.norm(h.to(self.norm.weight.dtype)),
            mask,
            lengths,
            cache=cache,
            offsets=offsets,
            return_cache=return_cache,
            **extra,
        )
        res = h.float() if self.residual_in_fp32 else h
        return res + y, new_cache

    def step(self, h: Tensor, cache: LayerCache, offsets: Tensor) -> tuple[Tensor, LayerCache]:
        """h: (B, d) one token -> ((B, d), new cache)."""
        x = self.norm(h.to(self.norm.weight.dtype))
        if isinstance(self.mixer, MambaMixer):
            y, cache = self.mixer.step(x, cache)
        else:
            y, cache = self.mixer(x[:, None], cache=cache, offsets=offsets, return_cache=True)
            y = y[:, 0]
        res = h.float() if self.residual_in_fp32 else h
        return res + y, cache
