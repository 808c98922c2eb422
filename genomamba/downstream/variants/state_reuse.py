"""Exact state reuse: causal variant scores of many SNVs that share one reference pass.

A causal model's REF and ALT sequences of an SNV agree on every base before it. So when many
SNVs read the same sequence from the same first base (a :class:`ContextGroup`: one tile and
strand of :mod:`genomamba.downstream.variants.tiles`), one REF pass gives every REF
log-probability and hidden state, and each ALT runs only from the SNV to the end of its score
window, starting from the REF pass's streaming state at the SNV: each Mamba layer's scan state
and last ``d_conv - 1`` conv inputs, each attention layer's last ``attn_window`` keys and values
(:meth:`~genomamba.models.GenomambaLM.forward_timeline`, whose scans stop at every SNV position).
ALT runs of many SNVs, each from its own state, share a batch; a relative-track model gets the
track codes of each run plus the next one, so it reads exactly what it reads in one pass. The
result equals running the whole REF and ALT sequences through the model (``_pair_scores`` in
:mod:`genomamba.downstream.variants.scoring`) to float rounding: the same function of the same
inputs, computed in pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genomamba.data.batching import pad_token_ids
from genomamba.models import GenomambaLM
from genomamba.models.backbone import StateTimeline
from genomamba.models.mixer import MambaCache
from genomamba.tokens import N_ID, N_NUCLEOTIDES, PAD_ID

__all__ = ["CHECKPOINT_EVERY", "ContextGroup", "score_groups"]

#: Default spacing of the REF pass's kept states (see :func:`score_groups`).
CHECKPOINT_EVERY = 16


@dataclass
class ContextGroup:
    """SNVs read from one sequence's first base on (one strand, one context).

    Attributes:
        ref: ``(L,)`` token ids of the sequence as the model reads it.
        track: ``(L + 1,)`` relative-track codes over it plus the code after it, or None.
        offsets: ``(n,)`` position of each SNV in ``ref``.
        alts: ``(n,)`` ALT token id of each SNV (on this strand).
        ends: ``(n,)`` end (exclusive) of each SNV's score window in ``ref``, ``> offsets``.
        slots: ``(n,)`` where each SNV's scores go in the output arrays.
    """

    ref: np.ndarray
    track: np.ndarray | None
    offsets: np.ndarray
    alts: np.ndarray
    ends: np.ndarray
    slots: np.ndarray


@torch.inference_mode()
def score_groups(
    model: GenomambaLM, groups: Sequence[ContextGroup], n_out: int, batch_size: int = 64,
    checkpoint_every: int = CHECKPOINT_EVERY, state_budget_bytes: int = 256 << 20,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LLR, hidden-state shift and influence of every SNV of ``groups``: float64 ``(n_out,)`` each
    (NaN at slots no group fills).

    For an SNV at offset o with window end e, in the sequence of its group: ``LLR = sum over t in
    [o, e) of log p_alt(x_t) - log p_ref(x_t)`` (t >= 1: the first base is never predicted);
    ``influence = sum over t in [o, e - 1) of KL(p_ref,t || p_alt,t)`` over the next-base
    distributions renormalised on A, C, G, T; ``shift = max over t in [o, e) of ||h_alt,t -
    h_ref,t||``, final normed hidden states. These are the whole-sequence definitions with the
    positions before o left out, where REF and ALT agree.

    Args:
        model: a causal model in eval mode.
        batch_size: ALT runs per forward pass.
        checkpoint_every: the REF pass keeps its state at multiples of this many bases at or
            before SNVs; each ALT run starts at the one at or before its SNV, re-reading the REF
            bases between them (1: at every SNV; larger: fewer, longer scan pieces).
        state_budget_bytes: about how much memory the scan states kept at SNV positions may take:
            as many groups run their REF pass together as fit in it (at least one).
        progress: called with the number of SNVs finished after each ALT batch.
    """
    out = tuple(np.full(n_out, np.nan) for _ in range(3))
    per_state = _scan_state_bytes(model)
    order = sorted(range(len(groups)), key=lambda i: len(groups[i].ref))
    batch: list[ContextGroup] = []
    offsets: set[int] = set()
    for i in order:
        mine = set((groups[i].offsets // checkpoint_every * checkpoint_every).tolist())
        grown = offsets | mine
        if batch and (len(batch) + 1) * len(grown) * per_state > state_budget_bytes:
            _score_pass(model, batch, out, batch_size, checkpoint_every, progress)
            batch, grown = [], mine
        batch.append(groups[i])
        offsets = grown
    if batch:
        _score_pass(model, batch, out, batch_size, checkpoint_every, progress)
    return out


def _scan_state_bytes(model: GenomambaLM) -> int:
    """Bytes of one sample's scan states (all Mamba layers): what each kept checkpoint costs."""
    state = model.allocate_state(1)
    return sum(c.ssm.numel() * c.ssm.element_size() for c in state.layers if isinstance(c, MambaCache))


@dataclass
class _RefPass:
    ids: Tensor  # (G, Lr) long, PAD after each sequence
    track: Tensor | None  # (G, Lr + 1) long, N after each sequence's codes
    lengths: np.ndarray  # (G,)
    logp: Tensor  # (G, Lr, V) log-softmax over the vocabulary
    logp4: Tensor  # (G, Lr, 4) log-softmax over A, C, G, T
    hidden: Tensor  # (G, Lr, D)
    timeline: StateTimeline  # the states after each checkpoint
    checkpoint_index: dict[int, int]  # position -> index in timeline.checkpoints


def _score_dtype(t: Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def _log_probs(logits: Tensor) -> tuple[Tensor, Tensor]:
    """(B, L, V) logits -> log-softmax over the vocabulary and over the four nucleotides."""
    x = logits.to(_score_dtype(logits))
    return torch.log_softmax(x, -1), torch.log_softmax(x[..., :N_NUCLEOTIDES], -1)


def _ref_pass(model: GenomambaLM, groups: Sequence[ContextGroup], checkpoints: Sequence[int]) -> _RefPass:
    """The groups' REF sequences through the model in one pass that keeps the states at ``checkpoints``."""
    device = next(model.parameters()).device
    ids, mask = pad_token_ids([g.ref for g in groups], pad_id=PAD_ID)
    ids, mask = ids.to(device), mask.to(device)
    track = None
    if groups[0].track is not None:
        track = pad_token_ids([g.track for g in groups], pad_id=N_ID)[0].to(device)  # type: ignore[misc]
    out, timeline = model.forward_timeline(
        ids, checkpoints, attention_mask=None if bool(mask.all()) else mask, track_ids=track
    )
    logp, logp4 = _log_probs(out.logits)
    h = out.hidden_states
    return _RefPass(
        ids=ids, track=track, lengths=np.array([len(g.ref) for g in groups]), logp=logp, logp4=logp4,
        hidden=h.to(_score_dtype(h)), timeline=timeline,
        checkpoint_index={c: i for i, c in enumerate(checkpoints)},
    )


def _score_pass(
    model: GenomambaLM, groups: Sequence[ContextGroup], out: tuple[np.ndarray, ...], batch_size: int, every: int,
    progress: Callable[[int], None] | None,
) -> None:
    g_of = np.concatenate([np.full(len(g.offsets), i) for i, g in enumerate(groups)])
    o = np.concatenate([g.offsets for g in groups]).astype(np.int64)
    e = np.concatenate([g.ends for g in groups]).astype(np.int64)
    a = np.concatenate([g.alts for g in groups]).astype(np.int64)
    slots = np.concatenate([g.slots for g in groups]).astype(np.int64)
    c = o // every * every  # each ALT run starts at the checkpoint at or before its SNV
    ref = _ref_pass(model, groups, sorted(set(c.tolist())))
    index = np.array([ref.checkpoint_index[x] for x in c.tolist()], dtype=np.int64)
    order = np.argsort(e - c, kind="stable")  # similar run lengths share a batch
    for b in range(0, len(order), batch_size):
        i = order[b : b + batch_size]
        llr, shift, influence = _alt_batch(model, ref, g_of[i], o[i], e[i], c[i], a[i], index[i])
        out[0][slots[i]], out[1][slots[i]], out[2][slots[i]] = llr, shift, influence
        if progress is not None:
            progress(len(i))


def _alt_batch(
    model: GenomambaLM, ref: _RefPass, g: np.ndarray, o: np.ndarray, e: np.ndarray, c: np.ndarray, a: np.ndarray,
    index: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ALT runs of M SNVs (group g, offset o, window end e, checkpoint c <= o and its index, ALT
    id a) from the REF state at c -> LLR, shift, influence float64 ``(M,)``."""
    dev = ref.ids.device
    La = int((e - c).max())
    # Each run reads La bases where its sequence has them (bases past its window end change
    # nothing before it), so that a batch usually needs no padding mask.
    run = torch.as_tensor(np.minimum(La, ref.lengths[g] - c), device=dev)
    g_t, o_t, e_t, c_t = (torch.as_tensor(x, device=dev) for x in (g, o, e, c))
    a_t = torch.as_tensor(a, device=dev)
    r = torch.arange(La, device=dev)
    t = c_t[:, None] + r  # (M, La) position in the group's sequence
    real = r < run[:, None]
    tc = t.clamp(max=ref.ids.shape[1] - 1)
    tokens = torch.where(real, ref.ids[g_t[:, None], tc], PAD_ID)
    tokens[torch.arange(len(g), device=dev), o_t - c_t] = a_t
    track = None
    if ref.track is not None:
        # codes at c .. c + run, the last one the code after the run's last base
        tt = c_t[:, None] + torch.arange(La + 1, device=dev)
        track = ref.track[g_t[:, None], tt.clamp(max=ref.track.shape[1] - 1)]
        track = torch.where(tt <= (c_t + run)[:, None], track, N_ID)
    state = ref.timeline.state_at(g_t, torch.as_tensor(index, device=dev))
    with torch.inference_mode():
        res = model(tokens, attention_mask=None if bool(real.all()) else real, state=state, track_ids=track)
    alt_logp, alt_logp4 = _log_probs(res.logits)
    at = (g_t[:, None], tc)
    after = t >= o_t[:, None]  # rows from the SNV on (rows c .. o - 1 repeat the REF pass)
    # shift: t in [o, e)
    dist = (res.hidden_states.to(ref.hidden.dtype) - ref.hidden[at]).norm(dim=-1)
    shift = torch.where(after & (t < e_t[:, None]), dist, 0).amax(-1)
    # influence: predictions made at t in [o, e - 1), i.e. of the bases o + 1 .. e - 1
    predicts_inside = after & (t < e_t[:, None] - 1)
    ref4 = ref.logp4[at]
    kl = (ref4.exp() * (ref4 - alt_logp4)).sum(-1)
    influence = torch.where(predicts_inside, kl, 0).double().sum(-1)
    # LLR of the bases after the SNV: row t predicts base t + 1 (the same base in REF and ALT)
    nxt = tokens[:, 1:, None]
    diff = alt_logp[:, :-1].gather(-1, nxt)[..., 0] - ref.logp[at][:, :-1].gather(-1, nxt)[..., 0]
    llr = torch.where(predicts_inside[:, :-1], diff, 0).double().sum(-1)  # float64 sums, as the reference
    # the SNV's own base, predicted from the shared prefix at o - 1 (not scored at o = 0)
    prev = (o_t - 1).clamp(min=0)
    own = ref.logp[g_t, prev, a_t] - ref.logp[g_t, prev, ref.ids[g_t, o_t]]
    llr = llr + torch.where(o_t > 0, own, 0).double()
    return tuple(x.double().cpu().numpy() for x in (llr, shift, influence))  # type: ignore[return-value]
