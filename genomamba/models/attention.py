"""Causal (optionally sliding-window) multi-head attention for hybrid layers, with a KV cache.

Positions are encoded with rotary embeddings (RoPE, Su et al. 2021) at absolute positions,
so chunked streaming gives the same result as a one-shot pass. ``rope_periods`` replaces the
lowest rotary frequencies (periods far longer than a sliding window, so nearly constant inside
it) by frequencies of exactly ``2*pi/p``: with ``p = 3`` a head can weight keys by their offset
modulo 3, i.e. by codon phase, which the geometric RoPE frequencies (all <= 1 rad/bp) cannot
express. Keys are cached already rotated; the cache keeps the last ``window`` real keys/values
of each sample (all of them when ``window`` is None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class AttnCache:
    """Streaming state of one attention layer.

    k, v: (B, H, W, head_dim) rotated keys / values; pos: (B, W) long absolute positions;
    valid: (B, W) bool. Valid entries always form a suffix of the W slots.
    """

    k: Tensor
    v: Tensor
    pos: Tensor
    valid: Tensor


@dataclass
class AttnTimeline:
    """Keys and values of one attention layer over one pass (:meth:`CausalSelfAttention.forward`
    with ``checkpoints``), to restart the layer after any prefix of it (exact state reuse).

    k, v: (B, H, W' + L, head_dim) rotated keys / values, the W' carried ones first; pos: (B, W' + L)
    long; valid: (B, W' + L) bool; carried: W'; window: the layer's window (None = all keys).
    """

    k: Tensor
    v: Tensor
    pos: Tensor
    valid: Tensor
    carried: int
    window: int | None

    def cache_at(self, rows: Tensor, positions: Tensor) -> AttnCache:
        """The cache after ``positions[i]`` tokens of the pass on row ``rows[i]`` (each (M,) long):
        the last ``window`` keys before it (all of them when window is None, left-padded with
        invalid slots to the longest), as :meth:`CausalSelfAttention.forward` would return."""
        end = self.carried + positions  # (M,) slot after the last key kept
        keep = self.window if self.window is not None else int(end.max())
        slot = end[:, None] - keep + torch.arange(keep, device=end.device)  # (M, keep)
        ok = slot >= 0
        slot = slot.clamp(min=0)
        r = rows[:, None]
        return AttnCache(
            k=self.k.transpose(1, 2)[r, slot].transpose(1, 2),  # (M, H, keep, hd)
            v=self.v.transpose(1, 2)[r, slot].transpose(1, 2),
            pos=self.pos[r, slot],
            valid=self.valid[r, slot] & ok,
        )


def rotary_frequencies(
    half: int, base: float, periods: Sequence[int] = (), device: torch.device | None = None
) -> Tensor:
    """Angular frequencies (rad per position) of the ``half`` rotary pairs, float32 ``(half,)``.

    The geometric RoPE series ``base ** (-i / half)``, with its last ``len(periods)`` entries (the
    lowest frequencies) replaced by ``2 * pi / p`` for each period ``p``.
    """
    inv_freq = base ** (-torch.arange(half, device=device, dtype=torch.float32) / half)
    if periods:
        if len(periods) > half:
            raise ValueError(f"{len(periods)} rope periods do not fit in {half} rotary pairs")
        periodic = torch.tensor([2 * math.pi / p for p in periods], device=device, dtype=torch.float32)
        inv_freq = torch.cat([inv_freq[: half - len(periods)], periodic])
    return inv_freq


def _rotate(x: Tensor, pos: Tensor, base: float, periods: Sequence[int] = ()) -> Tensor:
    """Rotary encoding. x: (B, H, L, hd); pos: (B, L) -> (B, H, L, hd) in x.dtype."""
    half = x.shape[-1] // 2
    inv_freq = rotary_frequencies(half, base, periods, x.device)
    ang = pos.float()[:, None, :, None] * inv_freq  # (B, 1, L, half)
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x.float()[..., :half], x.float()[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


def local_causal_attention(q: Tensor, k: Tensor, v: Tensor, window: int | None) -> Tensor:
    """Causal attention where query t sees keys (t - window, t]; all of 0..t when window is None.

    q, k, v: (B, H, L, hd) -> (B, H, L, hd). Memory and time are O(L * window) (see
    :func:`banded_attention`; here with an empty history), so the (L, L) score matrix is never
    formed.
    """
    b, h, L, hd = q.shape
    if window is None or window >= L:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    empty = q.new_zeros(b, h, window, hd)
    key_valid = torch.arange(window + L, device=q.device) >= window  # (window + L,)
    return banded_attention(q, torch.cat([empty, k], 2), torch.cat([empty, v], 2), window, key_valid)


def banded_attention(q: Tensor, k: Tensor, v: Tensor, window: int, key_valid: Tensor) -> Tensor:
    """Sliding-window attention over ``window`` history slots followed by the queries' own keys.

    q: (B, H, L, hd); k, v: (B, H, window + L, hd), key i + window belonging to query i;
    key_valid: (window + L,) or (B, window + L) bool (False: an empty history slot). Query t
    sees keys t+1 .. t+window, i.e. the last ``window`` positions up to itself. Queries are cut
    into blocks of ``window``; block j attends to key blocks j and j + 1 only, so time and
    memory are O(L * window).
    """
    b, h, L, hd = q.shape
    w = window
    n_blocks = -(-L // w)
    pad = n_blocks * w - L
    qb = F.pad(q, (0, 0, 0, pad)).view(b, h, n_blocks, w, hd)

    def pairs(x: Tensor) -> Tensor:  # (B, H, w + L, hd) -> (B, H, n_blocks, 2w, hd)
        xb = F.pad(x, (0, 0, 0, pad)).view(b, h, n_blocks + 1, w, hd)
        return torch.cat([xb[:, :, :-1], xb[:, :, 1:]], dim=3)

    # Query a of a block sits at local key index w + a and may see local keys c with
    # a < c <= w + a. Every query sees its own key, so no row is fully masked.
    a = torch.arange(w, device=q.device)[:, None]
    c = torch.arange(2 * w, device=q.device)[None, :]
    allowed = (c > a) & (c <= w + a)  # (w, 2w)
    kv = F.pad(key_valid, (0, pad), value=True).view(*key_valid.shape[:-1], n_blocks + 1, w)
    kv = torch.cat([kv[..., :-1, :], kv[..., 1:, :]], dim=-1)  # (..., n_blocks, 2w)
    mask = allowed & kv[..., :, None, :]  # (..., n_blocks, w, 2w)
    if mask.dim() == 4:
        mask = mask[:, None]  # (B, 1, n_blocks, w, 2w): shared by the heads
    y = F.scaled_dot_product_attention(qb, pairs(k), pairs(v), attn_mask=mask)  # (B, H, nb, w, hd)
    return y.reshape(b, h, n_blocks * w, hd)[:, :, :L]


class CausalSelfAttention(nn.Module):
    """Pre-projected causal attention via ``F.scaled_dot_product_attention`` with a bool mask."""

    def __init__(
        self, d_model: int, n_heads: int, window: int | None, rope_base: float, bias: bool,
        rope_periods: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.window = window
        self.rope_base = rope_base
        self.rope_periods = tuple(int(p) for p in rope_periods)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def allocate_cache(self, batch_size: int, device: torch.device | None, dtype: torch.dtype) -> AttnCache:
        kv = torch.zeros(batch_size, self.n_heads, 0, self.head_dim, device=device, dtype=dtype)
        return AttnCache(
            k=kv,
            v=kv.clone(),
            pos=torch.zeros(batch_size, 0, device=device, dtype=torch.long),
            valid=torch.zeros(batch_size, 0, device=device, dtype=torch.bool),
        )

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        lengths: Tensor | None = None,
        cache: AttnCache | None = None,
        offsets: Tensor | None = None,
        return_cache: bool = False,
        checkpoints: Sequence[int] | None = None,
    ) -> tuple[Tensor, AttnCache | AttnTimeline | None]:
        """x: (B, L, d); mask: (B, L) bool (right padding); offsets: (B,) absolute position of
        x[:, 0] (tokens already seen). Returns (out (B, L, d), new cache or None), or with
        ``checkpoints`` (any value: every prefix can be restarted) an :class:`AttnTimeline`."""
        b, L, d = x.shape
        dev = x.device
        if cache is None:
            cache = self.allocate_cache(b, dev, x.dtype)
        if offsets is None:
            offsets = torch.zeros(b, dtype=torch.long, device=dev)
        if mask is None:
            mask = torch.ones(b, L, dtype=torch.bool, device=dev)
        q, k, v = self.qkv(x).view(b, L, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        pos = offsets[:, None] + torch.arange(L, device=dev)  # (B, L)
        q, k = (_rotate(t, pos, self.rope_base, self.rope_periods) for t in (q, k))
        wc = cache.k.shape[2]
        if wc == 0:
            # No carried keys: right padding puts every pad after the real tokens, so plain
            # causal masking already hides pads from real queries; no (L, L) mask is needed.
            y = local_causal_attention(q, k, v, self.window)
            k_all, v_all, pos_all, valid_all = k, v, pos, mask
        else:
            k_all = torch.cat([cache.k.to(k.dtype), k], dim=2)  # (B, H, wc + L, hd)
            v_all = torch.cat([cache.v.to(v.dtype), v], dim=2)
            pos_all = torch.cat([cache.pos, pos], dim=1)  # (B, wc + L)
            valid_all = torch.cat([cache.valid, mask], dim=1)
            if self.window is not None and wc == self.window and L > self.window:
                # Streaming with a full window cache: its W slots hold positions offset-W..offset-1
                # (valid ones form a suffix), so banded attention over [cache | chunk] is exact and
                # O(L * W). Chunk pads need no mask: they come after every real query. A chunk no
                # longer than W takes the masked path below instead: L x (W + L) scores, where
                # banded attention would pad the chunk to W queries.
                key_valid = torch.cat([cache.valid, torch.ones_like(mask)], dim=1)
                y = banded_attention(q, k_all, v_all, self.window, key_valid)
            else:
                allowed = valid_all[:, None, :] & (pos_all[:, None, :] <= pos[:, :, None])  # (B, L, wc + L)
                if self.window is not None:
                    allowed &= pos_all[:, None, :] > pos[:, :, None] - self.window
                # Pad queries attend to their own key only: avoids all-masked rows (NaN); their
                # outputs are never read by real positions.
                self_key = torch.zeros(L, wc + L, dtype=torch.bool, device=dev)
                self_key[torch.arange(L), wc + torch.arange(L)] = True
                allowed |= (~mask)[:, :, None] & self_key
                y = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=allowed[:, None])  # (B, H, L, hd)
        out = self.out_proj(y.transpose(1, 2).reshape(b, L, d))
        if checkpoints is not None:
            return out, AttnTimeline(k_all, v_all, pos_all, valid_all, wc, self.window)
        if not return_cache:
            return out, None
        # Keep each sample's last W real keys (valid block ends at wc + length), right-aligned.
        total = wc + L
        keep = total if self.window is None else self.window
        lengths = mask.sum(1) if lengths is None else lengths
        idx = (wc + lengths)[:, None] - keep + torch.arange(keep, device=dev)  # (B, keep)
        ok = idx >= 0
        idx = idx.clamp(min=0)
        gidx = idx[:, None, :, None].expand(-1, self.n_heads, -1, self.head_dim)
        new = AttnCache(
            k=k_all.gather(2, gidx),
            v=v_all.gather(2, gidx),
            pos=pos_all.gather(1, idx),
            valid=valid_all.gather(1, idx) & ok,
        )
        return out, new
