"""The inference wrapper: :class:`GenomambaModel` (``embed``, ``embed_token_ids``,
``log_likelihood``), :func:`load` and :func:`as_genomamba_model`.

**Long sequences.** A causal model embeds sequences longer than ``chunk_length`` by streaming:
the sequence is cut into ``chunk_length`` pieces that run one after the other with the
model's carried state (``state=`` / ``return_state=True``), pooled statistics are accumulated
as running sums, and FASTA records / intervals are read chunk by chunk. Memory then stays
constant in the sequence length (up to the KV window of any attention layers, which grows
with the sequence when ``attn_window`` is None). Bidirectional and RC-equivariant models see
the whole sequence in both directions, which a left-to-right carried state cannot give; they
embed each sequence in **one pass** whatever its length (exact, but memory grows with the
length; ``chunk_length`` is ignored for them).

**Padding.** Sequences are sorted by length, batched, right-padded with an attention mask and
returned in the input order; pads never reach real positions (see ``MambaMixer``) and pooling
ignores them, so an embedding does not depend on the other sequences in its batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import numpy as np
import torch
import torch.nn.functional as F

from genomamba.api.inputs import SequenceSource, as_sources, read_chunk, sources_from_token_ids
from genomamba.data.tokenizer import N_ID, DNATokenizer
from genomamba.devices import resolve_device
from genomamba.errors import ConfigError
from genomamba.models import GenomambaLM, GenomambaState
from genomamba.models.pooling import masked_sum
from genomamba.models.scoring import next_token_log_probs
from genomamba.progress import progress as progress_bar

__all__ = ["GenomambaModel", "ModelLike", "Pooling", "as_genomamba_model", "as_lm", "load"]

Pooling = Literal["mean", "last", "none"]
_TOKENIZER = DNATokenizer()


def load(path_or_run_dir: str | os.PathLike[str], device: str | torch.device = "auto") -> GenomambaModel:
    """Load a model for inference.

    Args:
        path_or_run_dir: a ``save_pretrained`` directory (``config.json`` + ``model.safetensors``),
            a training run directory (containing ``model/`` or ``checkpoints/last.ckpt``), a
            Lightning ``.ckpt`` file, or the name of a model shipped with genomamba
            (``genomamba.models.checkpoint.pretrained_names()``).
        device: ``"auto"`` (CUDA when available, else CPU), or any torch device.

    Returns:
        A :class:`GenomambaModel` in eval mode on ``device``.

    Raises:
        CheckpointError: the path is missing or holds no usable checkpoint.
    """
    dev = resolve_device(device)  # before reading the weights: a bad device fails fast
    model = GenomambaLM.load(path_or_run_dir)  # CheckpointError for a missing path / unknown name
    return GenomambaModel(model, device=dev)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


class GenomambaModel:
    """A thin inference wrapper around a :class:`~genomamba.models.GenomambaLM`.

    Args:
        model: the language model (moved to ``device`` and put in eval mode).
        device: ``"auto"`` or a torch device.

    Attributes:
        model: the wrapped ``GenomambaLM``; ``config``: its ``GenomambaConfig``;
        d_model: embedding width ``D``; device.
    """

    def __init__(self, model: GenomambaLM, device: str | torch.device = "auto") -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.config = model.config
        self.tokenizer = _TOKENIZER

    @property
    def d_model(self) -> int:
        return int(self.config.d_model)

    def __repr__(self) -> str:
        c = self.config
        kind = "causal" if c.is_causal else ("rc_equivariant" if c.rc_equivariant else "bidirectional")
        return f"GenomambaModel({kind}, d_model={c.d_model}, n_layer={c.n_layer}, device={self.device})"

    # ------------------------------------------------------------------- embeddings
    @torch.no_grad()
    def embed(
        self,
        sequences: Any,
        pooling: Pooling = "mean",
        rc_average: bool = True,
        batch_size: int = 32,
        chunk_length: int = 16384,
        progress: bool = True,
    ) -> np.ndarray | list[np.ndarray]:
        """Embed sequences with the final-normed hidden states.

        Args:
            sequences: see :mod:`genomamba.api.inputs` (strings, SeqRecords, FASTA path, intervals;
                token ids through :meth:`embed_token_ids`).
            pooling: ``"mean"`` over real positions; ``"last"`` the last position's state
                (for a causal model, the only one that has seen the whole sequence);
                ``"none"`` per-position states.
            rc_average: average with the embedding of the reverse complement. For ``"none"``
                the RC states are re-aligned to forward coordinates first (position ``t`` of
                the sequence is position ``L - 1 - t`` of its RC). This makes mean / none
                embeddings exactly strand-invariant for any model; an ``rc_equivariant``
                model gets the RC states from its forward pass by equivariance (one pass).
            batch_size: sequences per forward pass.
            chunk_length: streaming chunk for causal models (see the module docstring).
            progress: show a rich progress bar (only when stderr is a terminal).

        Returns:
            ``"mean"`` / ``"last"``: float32 ``(N, D)``. ``"none"``: a list of float32
            ``(L_i, D)`` arrays, in input order (these hold every position, so their memory
            grows with the length even when streaming).
        """
        if pooling not in ("mean", "last", "none"):
            raise ConfigError(f"pooling must be 'mean', 'last' or 'none', got {pooling!r}")
        batch_size, chunk_length = _positive_int(batch_size, "batch_size"), _positive_int(chunk_length, "chunk_length")
        sources = as_sources(sequences)
        # Longest first: similar lengths share a batch, so little compute goes to padding.
        order = sorted(range(len(sources)), key=lambda i: -sources[i].length)
        results: list[Any] = [None] * len(sources)
        total = sum(s.length for s in sources) * (2 if rc_average and not self.config.rc_equivariant else 1)
        with progress_bar(total, "embedding", unit="bp", enabled=progress) as advance:
            for b0 in range(0, len(order), batch_size):
                idx = order[b0 : b0 + batch_size]
                batch = [sources[i] for i in idx]
                embs = self._embed_batch(batch, pooling, rc_average, chunk_length, advance)
                for i, e in zip(idx, embs, strict=True):
                    results[i] = e
        if pooling == "none":
            return results
        return np.stack(results).astype(np.float32)

    def embed_token_ids(self, token_ids: np.ndarray | list[np.ndarray], **options: Any) -> np.ndarray | list[np.ndarray]:
        """:meth:`embed` for already tokenized sequences, with no round trip through text.

        Args:
            token_ids: an integer array ``(N, L)`` (e.g. windows drawn from a genome) or N
                integer arrays ``(L_i,)`` of nucleotide ids A=0 C=1 G=2 T=3 N=4.
            options: any of :meth:`embed`'s (``pooling``, ``rc_average``, ``batch_size`` ...).

        Returns:
            As :meth:`embed`; equal to ``embed`` of the decoded strings.
        """
        return self.embed(sources_from_token_ids(token_ids), **options)

    def _embed_batch(
        self, batch: list[SequenceSource], pooling: Pooling, rc_average: bool, chunk_length: int, advance: Callable[[int], None]
    ) -> list[np.ndarray]:
        if self.config.rc_equivariant:
            # RCPS: states of RC(x) are the position-reversed, channel-flipped states of x.
            fwd = self._pooled(batch, pooling, chunk_length, rc=False, advance=advance, need_first=rc_average)
            if not rc_average:
                return [f[0] for f in fwd]
            out = []
            for emb, first in fwd:
                if pooling == "mean":
                    out.append(0.5 * (emb + emb[::-1]))
                elif pooling == "last":
                    out.append(0.5 * (emb + first[::-1]))
                else:
                    out.append(0.5 * (emb + emb[:, ::-1]))
            return out
        fwd = self._pooled(batch, pooling, chunk_length, rc=False, advance=advance)
        if not rc_average:
            return [f[0] for f in fwd]
        rev = self._pooled(batch, pooling, chunk_length, rc=True, advance=advance)
        if pooling == "none":
            return [0.5 * (f[0] + r[0][::-1]) for f, r in zip(fwd, rev, strict=True)]
        return [0.5 * (f[0] + r[0]) for f, r in zip(fwd, rev, strict=True)]

    @torch.no_grad()
    def _pooled(
        self,
        batch: list[SequenceSource],
        pooling: Pooling,
        chunk_length: int,
        rc: bool,
        advance: Callable[[int], None],
        need_first: bool = False,
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Run one strand of a batch; returns per sequence (pooled or (L, D) states, first state)."""
        lengths = torch.tensor([s.length for s in batch])
        B, Lmax, D = len(batch), int(lengths.max()), self.d_model
        step = chunk_length if self.config.is_causal else Lmax
        state: GenomambaState | None = None
        sums = torch.zeros(B, D, dtype=torch.float64, device=self.device)  # streamed masked sums
        last = torch.zeros(B, D, dtype=torch.float32, device=self.device)
        first = torch.zeros(B, D, dtype=torch.float32, device=self.device)
        per_pos: list[list[np.ndarray]] = [[] for _ in range(B)]
        for c0 in range(0, Lmax, step):
            ids, mask = (t.to(self.device) for t in read_chunk(batch, c0, c0 + step, rc))
            streaming = self.config.is_causal and Lmax > step
            out = self.model(ids, attention_mask=mask, state=state, return_state=streaming)
            state = out.state
            h = out.hidden_states.float()  # (B, l, D)
            sums += masked_sum(h, mask).double()
            n_real = mask.sum(1)  # (B,)
            ends = (n_real - 1).clamp_min(0)
            has = n_real > 0
            last[has] = h[torch.arange(B, device=h.device), ends][has]
            if c0 == 0:
                first = h[:, 0]
            if pooling == "none":
                hc = h.cpu().numpy()
                for b in range(B):
                    per_pos[b].append(hc[b, : int(n_real[b])])
            advance(int(n_real.sum()))
        out_list: list[tuple[np.ndarray, np.ndarray | None]] = []
        for b in range(B):
            if pooling == "mean":
                emb = (sums[b] / lengths[b].item()).float().cpu().numpy()
            elif pooling == "last":
                emb = last[b].cpu().numpy()
            else:
                emb = np.concatenate(per_pos[b], axis=0)
            out_list.append((emb, first[b].cpu().numpy() if need_first else None))
        return out_list

    # ------------------------------------------------------------------- likelihood
    @torch.no_grad()
    def log_likelihood(
        self, sequences: Any, batch_size: int = 32, chunk_length: int = 16384, progress: bool = True
    ) -> list[np.ndarray]:
        """Per-base natural-log probabilities ``log p(x_t | x_<t)`` of a causal model.

        The probability is the model's softmax over its full vocabulary (the distribution the
        training loss and the reported bits per base use). The first base has no prefix (the
        model is trained without a BOS token) and is scored as uniform, ``log(1/4)``. Positions
        whose base is N (or an ambiguity code) are NaN. Long sequences stream in
        ``chunk_length`` pieces with carried state, as in :meth:`embed`.

        Returns:
            One float32 ``(L_i,)`` array per sequence, in input order; ``sum`` is the
            sequence log-likelihood.

        Raises:
            ConfigError: the model is bidirectional / RC-equivariant (it sees the base it would
                score; masked-LM scoring is not provided here).
        """
        if not self.config.is_causal:
            raise ConfigError(
                "log_likelihood needs a causal model; this one is bidirectional or rc_equivariant and "
                "sees the base it would score (mask the position and read model(...).logits instead)"
            )
        batch_size, chunk_length = _positive_int(batch_size, "batch_size"), _positive_int(chunk_length, "chunk_length")
        sources = as_sources(sequences)
        order = sorted(range(len(sources)), key=lambda i: -sources[i].length)
        results: list[np.ndarray] = [np.empty(0)] * len(sources)
        with progress_bar(sum(s.length for s in sources), "scoring", unit="bp", enabled=progress) as advance:
            for b0 in range(0, len(order), batch_size):
                idx = order[b0 : b0 + batch_size]
                batch = [sources[i] for i in idx]
                for i, ll in zip(idx, self._score_batch(batch, chunk_length, advance), strict=True):
                    results[i] = ll
        return results

    @torch.no_grad()
    def _score_batch(
        self, batch: list[SequenceSource], chunk_length: int, advance: Callable[[int], None]
    ) -> list[np.ndarray]:
        """Per-base log-probabilities of one batch, streamed in ``chunk_length`` pieces."""
        B = len(batch)
        Lmax = max(s.length for s in batch)
        state: GenomambaState | None = None
        prev = None  # (B, V) log-probs predicting the first base of the next chunk
        pieces: list[list[np.ndarray]] = [[] for _ in range(B)]
        for c0 in range(0, Lmax, chunk_length):
            ids, mask = (t.to(self.device) for t in read_chunk(batch, c0, c0 + chunk_length, rc=False))
            out = self.model(ids, attention_mask=mask, state=state, return_state=Lmax > chunk_length)
            state = out.state
            # The first base of a chunk is predicted by the previous chunk's last real position.
            first = torch.full((B, 1), -math.log(4.0), device=ids.device) if prev is None else prev.gather(
                1, ids[:, :1].clamp(max=prev.shape[-1] - 1)
            )
            ll = torch.cat([first, next_token_log_probs(out.logits, ids)], dim=1)  # (B, l)
            ll = torch.where(ids < N_ID, ll, torch.full_like(ll, float("nan")))
            n_real = mask.sum(1)
            last_real = out.logits[torch.arange(B, device=ids.device), (n_real - 1).clamp_min(0)]  # (B, V)
            prev = F.log_softmax(last_real.float(), dim=-1)
            llc = ll.cpu().numpy()
            for b in range(B):
                pieces[b].append(llc[b, : int(n_real[b])])
            advance(int(n_real.sum()))
        return [np.concatenate(p).astype(np.float32) for p in pieces]


ModelLike: TypeAlias = GenomambaModel | GenomambaLM


def as_genomamba_model(model: ModelLike | str | os.PathLike[str], device: str | torch.device = "auto") -> GenomambaModel:
    """The one way downstream code takes a model: any of them -> a :class:`GenomambaModel`.

    Args:
        model: a :class:`GenomambaModel` (returned as is), a bare ``GenomambaLM`` (wrapped on
            the device it is already on, so nothing moves; the wrapper puts it in eval mode),
            or a path / shipped model name for :func:`load`.
        device: for a path only (see :func:`load`).

    Code that needs the torch module itself (fine-tuning, feature extractors) reads
    ``as_genomamba_model(model).model``.
    """
    if isinstance(model, GenomambaModel):
        return model
    if isinstance(model, GenomambaLM):
        weight = next(model.parameters(), None)
        return GenomambaModel(model, device=weight.device if weight is not None else "cpu")
    if isinstance(model, str | os.PathLike):
        return load(model, device=device)
    raise ConfigError(f"expected a GenomambaModel, a GenomambaLM or a model path, got {type(model).__name__}")


def as_lm(model: ModelLike) -> GenomambaLM:
    """The torch module of either model type (a :class:`GenomambaModel`'s ``.model``, or the
    ``GenomambaLM`` itself), left on its device and in its mode: for downstream code that
    fine-tunes or extracts features and so needs the module rather than the wrapper."""
    if isinstance(model, GenomambaModel):
        return model.model
    if isinstance(model, GenomambaLM):
        return model
    raise TypeError(f"expected a GenomambaModel or a GenomambaLM, got {type(model).__name__}")
