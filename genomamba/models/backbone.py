"""The model body: token ids ``(B, L)`` -> final-normed hidden states ``(B, L, d_model)``.

:class:`Backbone` stacks embedding, :class:`~genomamba.models.blocks.Block` layers and the final
norm, runs long CPU inputs chunk by chunk with the streaming state, and owns
:class:`GenomambaState` (per-layer conv / SSM states and attention KV windows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from genomamba.errors import ConfigError, ModelInputError
from genomamba.models.attention import AttnCache, CausalSelfAttention
from genomamba.models.blocks import BiMixer, Block, LayerCache, LayerTimeline, RCPSMixer, RCPSNorm
from genomamba.models.config import GenomambaConfig
from genomamba.models.mixer import MambaMixer, MambaTimeline, RMSNorm
from genomamba.tokens import N_ID, TRACK_CODES

__all__ = ["Backbone", "GenomambaState", "StateTimeline", "check_inputs"]


@dataclass
class GenomambaState:
    """Streaming inference state.

    layers: one :class:`MambaCache` (conv (B, d_inner, d_conv-1), ssm (B, d_inner, d_state))
    or :class:`AttnCache` (last W keys/values) per layer; seqlen_offset: (B,) long, real
    tokens consumed so far by each sample.
    """

    layers: list[LayerCache]
    seqlen_offset: Tensor

    @property
    def batch_size(self) -> int:
        return int(self.seqlen_offset.shape[0])

    def select(self, rows: Tensor) -> GenomambaState:
        """The states of batch rows ``rows`` (B',) long, in that order (rows may repeat): a new
        state whose tensors are copies, so stepping it leaves this one untouched."""
        return GenomambaState(
            layers=[_map_cache(c, lambda t: t.index_select(0, rows)) for c in self.layers],
            seqlen_offset=self.seqlen_offset.index_select(0, rows),
        )

    @staticmethod
    def cat(states: Sequence[GenomambaState]) -> GenomambaState:
        """One state holding the rows of ``states`` one after the other (same model).

        Attention caches of different lengths (an empty state, a full-attention model's growing
        cache) are left-padded with invalid slots to the longest: valid entries stay a suffix,
        and invalid slots are never attended to, so each row computes as it did alone."""
        if not states:
            raise ValueError("GenomambaState.cat needs at least one state")
        layers: list[LayerCache] = []
        for caches in zip(*(s.layers for s in states), strict=True):
            if isinstance(caches[0], AttnCache):
                slots = max(c.k.shape[2] for c in caches)
                caches = tuple(_left_pad_attn(c, slots) for c in caches)  # type: ignore[arg-type]
            layers.append(
                type(caches[0])(*(torch.cat([getattr(c, f.name) for c in caches]) for f in fields(caches[0])))
            )
        return GenomambaState(layers=layers, seqlen_offset=torch.cat([s.seqlen_offset for s in states]))


@dataclass
class StateTimeline:
    """The streaming states of one pass after each of P prefixes of it (:meth:`Backbone.forward_timeline`).

    layers: one :class:`~genomamba.models.mixer.MambaTimeline` or
    :class:`~genomamba.models.attention.AttnTimeline` per layer; checkpoints: (P,) long, the
    prefix lengths (tokens of the pass); seqlen_offset: (B,) long, tokens seen before the pass.
    """

    layers: list[LayerTimeline]
    checkpoints: Tensor
    seqlen_offset: Tensor

    def state_at(self, rows: Tensor, index: Tensor) -> GenomambaState:
        """The state of row ``rows[i]`` after checkpoint ``index[i]`` (each (M,) long): a
        :class:`GenomambaState` of batch M, equal to what streaming that row's pass up to the
        checkpoint with ``return_state=True`` returns."""
        positions = self.checkpoints[index]
        caches: list[LayerCache] = [
            t.cache_at(rows, index, positions) if isinstance(t, MambaTimeline) else t.cache_at(rows, positions)
            for t in self.layers
        ]
        return GenomambaState(layers=caches, seqlen_offset=self.seqlen_offset[rows] + positions)


def _map_cache(cache: LayerCache, fn: Callable[[Tensor], Tensor]) -> LayerCache:
    return type(cache)(*(fn(getattr(cache, f.name)) for f in fields(cache)))


def _left_pad_attn(cache: AttnCache, slots: int) -> AttnCache:
    """``cache`` with ``slots - W`` invalid slots put before its W slots."""
    pad = slots - cache.k.shape[2]
    if pad == 0:
        return cache
    b, h, _, hd = cache.k.shape
    kv = cache.k.new_zeros(b, h, pad, hd)
    return AttnCache(
        k=torch.cat([kv, cache.k], 2),
        v=torch.cat([kv, cache.v], 2),
        pos=torch.cat([cache.pos.new_zeros(b, pad), cache.pos], 1),
        valid=torch.cat([cache.valid.new_zeros(b, pad), cache.valid], 1),
    )

class Backbone(nn.Module):
    """Token ids (B, L) -> final-normed hidden states (B, L, d_model)."""

    def __init__(self, cfg: GenomambaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        width = cfg.d_model // 2 if cfg.rc_equivariant else cfg.d_model
        self.embeddings = nn.Embedding(cfg.padded_vocab_size, width)
        # A related genome's aligned bases (config.relative_track); zero at init (init_weights).
        self.track_embeddings = nn.Embedding(TRACK_CODES, width) if cfg.relative_track else None
        comp = list(cfg.complement_map) + list(range(cfg.vocab_size, cfg.padded_vocab_size))
        self.register_buffer("complement", torch.tensor(comp, dtype=torch.long), persistent=False)

        def make_norm() -> nn.Module:
            return (
                RCPSNorm(width, cfg.rms_norm_eps) if cfg.rc_equivariant else RMSNorm(width, cfg.rms_norm_eps)
            )

        def make_inner(i: int) -> nn.Module:
            if i in cfg.attn_layers:
                return CausalSelfAttention(
                    width, cfg.attn_heads, cfg.attn_window, cfg.rope_base, cfg.proj_bias, cfg.rope_periods
                )
            return MambaMixer(cfg, width)

        layers = []
        for i in range(cfg.n_layer):
            mixer = make_inner(i)
            if cfg.bidirectional:
                mixer = BiMixer(mixer, make_inner(i), width, cfg.bidirectional_combine)
            if cfg.rc_equivariant:
                mixer = RCPSMixer(mixer)
            layers.append(Block(mixer, make_norm(), cfg.residual_in_fp32))
        self.layers = nn.ModuleList(layers)
        self.norm_f = make_norm()

    def embed(self, input_ids: Tensor) -> Tensor:
        """(B, L) or (B,) -> (..., d_model); RC mode: [E[x] | flip(E[complement(x)])]."""
        h = self.embeddings(input_ids)
        if self.cfg.rc_equivariant:
            h = torch.cat([h, self.embeddings(self.complement[input_ids]).flip(-1)], dim=-1)
        return h.float() if self.cfg.residual_in_fp32 else h

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        state: GenomambaState | None = None,
        return_state: bool = False,
        track_ids: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, GenomambaState | None]:
        """input_ids (B, L) long; attention_mask (B, L) bool, right padding, True = real;
        track_ids (B, L) or (B, L + 1) long codes 0..4 (relative-track models only, see
        :meth:`track_input`).

        Returns hidden states (B, L, d_model), or (hidden, new state) when ``return_state``.
        On CPU, a causal model runs inputs longer than ``config.cpu_chunk_len`` chunk by chunk
        with the carried streaming state (same result, gradients included; see
        :class:`GenomambaConfig`).
        """
        mask, lengths = check_inputs(self.cfg, input_ids, attention_mask)
        if mask is not None and bool(mask.all()):
            # No pads (training windows share one length): the unmasked path gives the same result
            # without the pad-masking passes, and lets the CPU scan apply dt's bias and softplus.
            mask = lengths = None
        if (state is not None or return_state) and not self.cfg.is_causal:
            raise ConfigError(
                "streaming state needs a causal model; this config is bidirectional or rc_equivariant "
                "(set both to False, or call without state/return_state)"
            )
        if state is not None and state.seqlen_offset.shape[0] != input_ids.shape[0]:
            raise ModelInputError(
                f"state batch size {state.seqlen_offset.shape[0]} != input batch size {input_ids.shape[0]}"
            )
        extra = self.track_input(input_ids, track_ids)
        chunk = self.chunk_len(input_ids)
        if not chunk or input_ids.shape[1] <= chunk:
            return self._run(input_ids, mask, lengths, state, return_state, extra)
        if state is None:
            state = self.allocate_state(input_ids.shape[0], input_ids.device, self.embeddings.weight.dtype)
        hidden = []
        for start in range(0, input_ids.shape[1], chunk):
            part = slice(start, start + chunk)
            m = mask[:, part] if mask is not None else None
            e = extra[:, part] if extra is not None else None
            h, state = self._run(input_ids[:, part], m, m.sum(1) if m is not None else None, state, True, e)
            hidden.append(h)
        hidden_all = torch.cat(hidden, dim=1)
        return (hidden_all, state) if return_state else hidden_all

    def forward_timeline(
        self,
        input_ids: Tensor,
        checkpoints: Sequence[int],
        attention_mask: Tensor | None = None,
        state: GenomambaState | None = None,
        track_ids: Tensor | None = None,
    ) -> tuple[Tensor, StateTimeline]:
        """One pass (causal models) that also keeps what restarting it after any of the
        ``checkpoints`` needs (P strictly increasing prefix lengths in 0..L): hidden states
        (B, L, d_model) and a :class:`StateTimeline`. Each Mamba layer's scan runs in pieces ending
        at the checkpoints; attention keys and conv inputs are kept for the whole pass. Inputs as
        for :meth:`forward` (``track_ids`` (B, L + 1) to restart a track model exactly); no CPU
        chunking."""
        mask, lengths = check_inputs(self.cfg, input_ids, attention_mask)
        if not self.cfg.is_causal:
            raise ConfigError("forward_timeline needs a causal model (bidirectional=False, rc_equivariant=False)")
        cps = [int(c) for c in checkpoints]
        if not cps or cps != sorted(set(cps)) or cps[0] < 0 or cps[-1] > input_ids.shape[1]:
            raise ModelInputError(f"checkpoints must be strictly increasing positions in 0..{input_ids.shape[1]}, got {cps}")
        extra = self.track_input(input_ids, track_ids)
        offsets = state.seqlen_offset if state is not None else torch.zeros_like(input_ids[:, 0])
        h = self.embed(input_ids)
        if extra is not None:
            h = h + extra
        timelines: list[LayerTimeline] = []
        for i, layer in enumerate(self.layers):
            cache = state.layers[i] if state is not None else None
            h, t = layer(h, mask, lengths, cache=cache, offsets=offsets, checkpoints=cps)
            timelines.append(t)
        hidden = self.norm_f(h.to(self.norm_f.weight.dtype))
        return hidden, StateTimeline(timelines, torch.tensor(cps, device=input_ids.device), offsets)

    def track_input(self, input_ids: Tensor, track_ids: Tensor | None) -> Tensor | None:
        """What a relative-track model adds to the token embedding: ``(B, L, width)``, row t the
        embedding of the track's code at t + 1; None for other models.

        ``track_ids`` is ``(B, L)`` (row L - 1 then reads N: nothing after the input) or
        ``(B, L + 1)``, whose last column is the track's code just after the input (for a padded
        row of length l, column l): a sequence cut into pieces, each given its codes and the next
        one, computes exactly as in one piece. A track model given no track reads an all-N one
        (no relative aligned anywhere)."""
        if self.track_embeddings is None:
            if track_ids is not None:
                raise ModelInputError(
                    "this model does not read a relative track (config.relative_track is false); call it without "
                    "track_ids, or use a model trained with model.relative_track=true"
                )
            return None
        if track_ids is None:
            track_ids = torch.full_like(input_ids, N_ID)
        one_more = (input_ids.shape[0], input_ids.shape[1] + 1)
        if tuple(track_ids.shape) not in (tuple(input_ids.shape), one_more) or track_ids.dtype != torch.long:
            raise ModelInputError(
                f"track_ids must be a long tensor shaped like input_ids {tuple(input_ids.shape)} (or with one more "
                f"column, the code after the last position), got {tuple(track_ids.shape)} {track_ids.dtype}"
            )
        if track_ids.numel() and (int(track_ids.min()) < 0 or int(track_ids.max()) >= TRACK_CODES):
            raise ModelInputError(
                f"track codes must lie in [0, {TRACK_CODES}) (A, C, G, T, N), got range "
                f"[{int(track_ids.min())}, {int(track_ids.max())}]; encode the track FASTA with the genomamba tokenizer"
            )
        ahead = track_ids[:, 1:]
        if track_ids.shape == input_ids.shape:
            ahead = torch.cat([ahead, torch.full_like(track_ids[:, :1], N_ID)], dim=1)
        e = self.track_embeddings(ahead)
        return e.float() if self.cfg.residual_in_fp32 else e

    def chunk_len(self, input_ids: Tensor) -> int:
        """Tokens per chunk for this input (0 = one pass); see ``GenomambaConfig.cpu_chunk_len``."""
        cfg = self.cfg
        full_attention = bool(cfg.attn_layers) and cfg.attn_window is None
        if input_ids.is_cuda or not cfg.is_causal or full_attention:
            return 0
        return int(cfg.cpu_chunk_len or 0)

    def allocate_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> GenomambaState:
        layers = [blk.mixer.allocate_cache(batch_size, device, dtype) for blk in self.layers]
        return GenomambaState(layers=layers, seqlen_offset=torch.zeros(batch_size, dtype=torch.long, device=device))

    def _run(
        self, input_ids: Tensor, mask: Tensor | None, lengths: Tensor | None, state: GenomambaState | None,
        return_state: bool, extra: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, GenomambaState]:
        """One pass over validated inputs (see :meth:`forward`); ``extra`` (B, L, width) is added
        to the token embedding (:meth:`track_input`)."""
        offsets = state.seqlen_offset if state is not None else None
        h = self.embed(input_ids)
        if extra is not None:
            h = h + extra
        new_caches: list[LayerCache] = []
        for i, layer in enumerate(self.layers):
            cache = state.layers[i] if state is not None else None
            h, c = layer(h, mask, lengths, cache=cache, offsets=offsets, return_cache=return_state)
            new_caches.append(c)
        hidden = self.norm_f(h.to(self.norm_f.weight.dtype))
        if not return_state:
            return hidden
        seen = lengths if lengths is not None else torch.full_like(input_ids[:, 0], input_ids.shape[1])
        base = offsets if offsets is not None else torch.zeros_like(seen)
        return hidden, GenomambaState(layers=new_caches, seqlen_offset=base + seen)


def check_inputs(
    cfg: GenomambaConfig, input_ids: Tensor, attention_mask: Tensor | None
) -> tuple[Tensor | None, Tensor | None]:
    """Validate ids / right-padded mask; returns (mask bool (B, L), lengths (B,)) or (None, None)."""
    if input_ids.dim() != 2 or input_ids.dtype != torch.long:
        raise ModelInputError(
            f"input_ids must be a (batch, length) long tensor, got {tuple(input_ids.shape)} {input_ids.dtype}"
        )
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= cfg.vocab_size):
        raise ModelInputError(
            f"token ids must lie in [0, {cfg.vocab_size}), got range "
            f"[{int(input_ids.min())}, {int(input_ids.max())}]; encode with the genomamba tokenizer"
        )
    if attention_mask is None:
        return None, None
    if attention_mask.shape != input_ids.shape:
        raise ModelInputError(
            f"attention_mask shape {tuple(attention_mask.shape)} != input_ids shape {tuple(input_ids.shape)}"
        )
    mask = attention_mask.bool()
    lengths = mask.sum(1)
    prefix = torch.arange(mask.shape[1], device=mask.device) < lengths[:, None]
    if not torch.equal(mask, prefix):
        raise ModelInputError(
            "attention_mask must be right-padded (each row: True for real tokens, then False); "
            "left padding or holes are not supported"
        )
    return mask, lengths
