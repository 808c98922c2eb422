"""GenomambaLM: embedding -> pre-norm residual blocks (Mamba / attention) -> RMSNorm -> LM head.

Variants (see :class:`GenomambaConfig`): bidirectional Mamba, reverse-complement
equivariant (RCPS) and Jamba-style hybrid attention layers. Streaming inference keeps a
:class:`GenomambaState` with per-layer conv / SSM states and attention KV windows.

The body lives in :mod:`genomamba.models.backbone` (``Backbone``, ``GenomambaState``) and its
layers in :mod:`genomamba.models.blocks`; this module adds the LM head, initialisation,
streaming steps, sampling and the checkpoint entry points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genomamba.errors import ConfigError, ModelInputError
from genomamba.models import checkpoint
from genomamba.models.attention import CausalSelfAttention
from genomamba.models.backbone import Backbone, GenomambaState, StateTimeline, check_inputs
from genomamba.models.config import GenomambaConfig
from genomamba.models.mixer import MambaMixer, RMSNorm

__all__ = ["GenomambaLM", "GenomambaOutput", "GenomambaState", "init_weights"]


@dataclass
class GenomambaOutput:
    """logits: (B, L, vocab_size); hidden_states: (B, L, d_model) final-normed; state or None."""

    logits: Tensor
    hidden_states: Tensor
    state: GenomambaState | None = None


@torch.no_grad()
def init_weights(model: GenomambaLM) -> None:
    """The one place where parameters get their initial values.

    Follows Gu & Dao 2023 ("Mamba", Sec. 3.6 and the reference implementation's init):
    S4D-real A = -(1..n) stored as A_log = log(1..n) (and -(1..k) for k periodic states); dt sampled log-uniformly in
    [dt_min, dt_max] (floored at dt_init_floor) and written as the inverse softplus into the
    dt_proj bias; dt_proj weight uniform in +-dt_scale / sqrt(dt_rank); D = 1; embeddings
    N(0, initializer_range); other linear layers keep PyTorch's default with zero biases;
    output projections scaled by 1/sqrt(n_layer) as GPT-2 does for residual branches; a relative
    track's embedding table zero.
    """
    cfg = model.config
    for m in model.modules():
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=cfg.initializer_range)
        elif isinstance(m, RMSNorm):
            nn.init.ones_(m.weight)
    for m in model.modules():
        if isinstance(m, MambaMixer):
            # S4D-real decays 1..n for the real states, 1..k for the periodic complex ones (slow
            # decays first: a period-p component needs tens of bp to build up).
            decays = list(range(1, m.d_state + 1)) + list(range(1, m.n_complex + 1))
            m.A_log.copy_(torch.log(torch.tensor(decays, dtype=torch.float32)).expand(m.d_inner, len(decays)))
            m.D.fill_(1.0)
            std = m.dt_rank**-0.5 * cfg.dt_scale
            nn.init.uniform_(m.dt_proj.weight, -std, std)
            log_lo, log_hi = math.log(cfg.dt_min), math.log(cfg.dt_max)
            dt = torch.exp(torch.rand(m.d_inner) * (log_hi - log_lo) + log_lo).clamp(min=cfg.dt_init_floor)
            m.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^{-1}(dt)
        if isinstance(m, (MambaMixer, CausalSelfAttention)) and cfg.rescale_prenorm_residual:
            m.out_proj.weight.div_(math.sqrt(cfg.n_layer))
    if model.backbone.track_embeddings is not None:
        # zero: a track model starts as the same function as its track-free twin (init_from)
        nn.init.zeros_(model.backbone.track_embeddings.weight)


class GenomambaLM(nn.Module):
    """Mamba language model over nucleotide tokens (causal, bidirectional, RC-equivariant, hybrid).

    Example:
        >>> import torch
        >>> from genomamba.models import GenomambaConfig, GenomambaLM
        >>> _ = torch.manual_seed(0)
        >>> model = GenomambaLM(GenomambaConfig(d_model=16, n_layer=2))
        >>> model.num_parameters()
        7024
        >>> out = model(torch.randint(0, 4, (2, 11)))
        >>> tuple(out.logits.shape), tuple(out.hidden_states.shape)
        ((2, 11, 9), (2, 11, 16))
    """

    def __init__(self, config: GenomambaConfig) -> None:
        super().__init__()
        self.config = config
        # Where the weights were trained: a training-data record (genomamba.data.provenance),
        # saved as training_data.json beside them, so evaluations can check they are held out.
        # None when unknown (an imported or older model).
        self.training_data: dict[str, Any] | None = None
        self.backbone = Backbone(config)
        width = config.d_model // 2 if config.rc_equivariant else config.d_model
        self.lm_head = (
            None if config.tie_embeddings else nn.Linear(width, config.padded_vocab_size, bias=False)
        )
        init_weights(self)

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def _head(self, hidden: Tensor) -> Tensor:
        """(..., d_model) -> (..., vocab_size) logits (padded vocab rows dropped)."""
        w = self.backbone.embeddings.weight if self.lm_head is None else self.lm_head.weight
        V = self.config.vocab_size
        if not self.config.rc_equivariant:
            return F.linear(hidden, w)[..., :V]
        # RCPS head: forward half scores tokens, RC half scores their complements, so
        # logits(RC(x)) = complement-permuted, reversed logits(x).
        a, b = hidden.chunk(2, dim=-1)
        comp = self.backbone.complement[:V]
        return F.linear(a, w)[..., :V] + F.linear(b.flip(-1), w)[..., comp]

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        state: GenomambaState | None = None,
        return_state: bool = False,
        track_ids: Tensor | None = None,
    ) -> GenomambaOutput:
        """input_ids (B, L) long; attention_mask (B, L) bool right padding; track_ids (B, L) long
        codes A, C, G, T, N = 0..4 of a related genome aligned to input_ids (relative-track
        models only; None = all N), or (B, L + 1) with the code after the last position too
        -> GenomambaOutput.

        Streaming a relative-track model (``state`` / ``return_state``) needs the (B, L + 1)
        form: the model reads the track one position ahead, so each piece needs the next
        piece's first code to compute exactly as one pass."""
        if track_ids is not None and (state is not None or return_state) and track_ids.shape == input_ids.shape:
            # each call would read N after its last position instead of the next call's first track base
            raise ConfigError(
                "streaming state with track_ids: a relative-track model reads the track one position ahead, so each "
                "streamed piece needs track_ids with one more column (the code after its last position); give "
                "(B, L + 1) track_ids, or score whole windows with model(input_ids, track_ids=...)"
            )
        res = self.backbone(input_ids, attention_mask, state=state, return_state=return_state, track_ids=track_ids)
        hidden, new_state = res if return_state else (res, None)
        return GenomambaOutput(logits=self._head(hidden), hidden_states=hidden, state=new_state)

    @torch.no_grad()
    def forward_timeline(
        self,
        input_ids: Tensor,
        checkpoints: Sequence[int],
        attention_mask: Tensor | None = None,
        state: GenomambaState | None = None,
        track_ids: Tensor | None = None,
    ) -> tuple[GenomambaOutput, StateTimeline]:
        """:meth:`forward` (inference) that also returns the states after each of the
        ``checkpoints`` (prefix lengths) as a :class:`~genomamba.models.backbone.StateTimeline`:
        ``timeline.state_at(rows, index)`` restarts rows there, e.g. to run many continuations of
        one prefix without running the prefix again (exact state reuse of variant scoring)."""
        hidden, timeline = self.backbone.forward_timeline(input_ids, checkpoints, attention_mask, state, track_ids)
        return GenomambaOutput(logits=self._head(hidden), hidden_states=hidden), timeline

    def allocate_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> GenomambaState:
        """Empty streaming state for ``batch_size`` sequences (causal models only)."""
        if not self.config.is_causal:
            raise ConfigError(
                "allocate_state needs a causal model (bidirectional=False, rc_equivariant=False)"
            )
        p = next(self.parameters())
        device = p.device if device is None else torch.device(device)
        dtype = p.dtype if dtype is None else dtype
        return self.backbone.allocate_state(batch_size, device, dtype)

    def step(self, input_ids: Tensor, state: GenomambaState) -> tuple[Tensor, GenomambaState]:
        """One token per sequence: input_ids (B,) -> (logits (B, vocab_size), new state).

        A relative-track model steps with an all-N track (no track can be read one token ahead)."""
        if not self.config.is_causal:
            raise ConfigError("step needs a causal model (bidirectional=False, rc_equivariant=False)")
        check_inputs(self.config, input_ids[:, None], None)
        bb = self.backbone
        h = bb.embed(input_ids)
        extra = bb.track_input(input_ids[:, None], None)
        if extra is not None:
            h = h + extra[:, 0]
        caches = []
        for layer, cache in zip(bb.layers, state.layers, strict=True):
            h, c = layer.step(h, cache, state.seqlen_offset)
            caches.append(c)
        hidden = bb.norm_f(h.to(bb.norm_f.weight.dtype))
        return self._head(hidden), GenomambaState(layers=caches, seqlen_offset=state.seqlen_offset + 1)

    @torch.no_grad()
    def generate(
        self,
        prompt_ids: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Sample nucleotides after ``prompt_ids`` (B, P) or (P,) -> (B, P + max_new_tokens).

        Sampling is restricted to ``config.nucleotide_token_ids``; temperature 0 is greedy.
        """
        squeeze = prompt_ids.dim() == 1
        ids = prompt_ids[None] if squeeze else prompt_ids
        if ids.shape[1] == 0:
            raise ModelInputError("generate needs a non-empty prompt (e.g. a BOS token)")
        state = self.allocate_state(ids.shape[0], ids.device)
        out = self(ids, state=state, return_state=True)
        logits, state = out.logits[:, -1], out.state
        nuc = torch.tensor(self.config.nucleotide_token_ids, device=ids.device)
        new = []
        for i in range(max_new_tokens):
            scores = logits[:, nuc].float()
            if temperature <= 0:
                pick = scores.argmax(-1)
            else:
                scores = scores / temperature
                if top_k is not None and top_k < scores.shape[-1]:
                    kth = scores.topk(top_k, dim=-1).values[:, -1:]
                    scores = scores.masked_fill(scores < kth, float("-inf"))
                pick = torch.multinomial(scores.softmax(-1), 1, generator=generator)[:, 0]
            tok = nuc[pick]
            new.append(tok)
            if i + 1 < max_new_tokens:
                logits, state = self.step(tok, state)
        result = torch.cat([ids, torch.stack(new, 1)], dim=1) if new else ids
        return result[0] if squeeze else result

    # -- checkpoints (implemented in genomamba.models.checkpoint) -------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` + ``model.safetensors`` atomically into ``directory``."""
        return checkpoint.save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> GenomambaLM:
        """Load a directory written by :meth:`save_pretrained`."""
        return checkpoint.load_pretrained(cls, directory, map_location)

    @classmethod
    def from_lightning_checkpoint(
        cls, path: str | Path, map_location: str | torch.device = "cpu", weights_only: bool = True
    ) -> GenomambaLM:
        """Load a Lightning ``.ckpt`` written by ``genomamba train`` (weights-only by default)."""
        return checkpoint.load_lightning_checkpoint(cls, path, map_location, weights_only)

    @classmethod
    def from_hf_mamba(cls, state_dict_or_dir: dict[str, Tensor] | str | Path, config: Any = None) -> GenomambaLM:
        """Import a HuggingFace ``MambaForCausalLM`` checkpoint (state dict or saved directory)."""
        return checkpoint.load_hf_mamba(cls, state_dict_or_dir, config)

    @classmethod
    def load(cls, path_or_name: str | Path) -> GenomambaLM:
        """Load from a save_pretrained dir, a run dir, a ``.ckpt`` or a shipped model's name."""
        return checkpoint.load_model(cls, path_or_name)[0]
