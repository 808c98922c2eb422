"""Exact state reuse: causal variant scores of many SNVs that share one reference pass.

A causal model's REF and ALT sequences of an SNV agree on every base before it. So when many
SNVs read the same sequence from the same first base (a :class:`ContextGroup`: one tile and
strand of :mod:`genomamba.downstream.variants.tiles`), one REF pass gives every REF
log-probability and hidden state, and each ALT runs only from the SNV to the end of its score
window, starting from the REF pass's streaming state: each Mamba layer's scan state and last
``d_conv - 1`` conv inputs, each attention layer's last ``attn_window`` keys and values
(:class:`~genomamba.models.GenomambaState`). The result equals running the whole REF and ALT
sequences through the model (``_pair_scores`` in :mod:`genomamba.downstream.variants.scoring`)
to float rounding: the same function of the same inputs, computed in pieces.

How: the REF pass runs in pieces that end at multiples of ``checkpoint_every`` (16) bp where an
SNV needs a state, keeping the state there. An SNV at offset o starts its ALT run at the last
such checkpoint ``c <= o``, re-reading the (at most 15) REF bases between them, so the pass
stays a few long pieces instead of one call per base. ALT runs of many SNVs, each from its own
state, share a batch; a relative-track model gets each piece's track codes plus the next one
(``track_ids`` with one more column), so it reads exactly what it reads in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genomamba.data.batching import pad_token_ids
from genomamba.models import GenomambaLM, GenomambaState
from genomamba.tokens import N_ID, N_NUCLEOTIDES, PAD_ID

__all__ = ["ContextGroup", "score_groups"]


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
    model: GenomambaLM, groups: Sequence[ContextGroup], n_out: int, batch_size: int = 64, checkpoint_every: int = 16,
    groups_per_pass: int = 8, progress: Callable[[int], None] | None = None,
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
        groups_per_pass: groups whose REF passes run together (their checkpoint states are held
            until their ALT runs are done).
        progress: called with the number of SNVs finished after each ALT batch.
    """
    out = tuple(np.full(n_out, np.nan) for _ in range(3))
    order = sorted(range(len(groups)), key=lambda i: len(groups[i].ref))
    for b in range(0, len(order), groups_per_pass):
        _score_pass(model, [groups[i] for i in order[b : b + groups_per_pass]], out, batch_size, checkpoint_every,
                    progress)
    return out


@dataclass
class _RefPass:
    ids: Tensor  # (G, Lr) long, PAD after each sequence
    track: Tensor | None  # (G, Lr + 1) long, N after each sequence's codes
    lengths: np.ndarray  # (G,)
    logp: Tensor  # (G, Lr, V) log-softmax over the vocabulary
    logp4: Tensor  # (G, Lr, 4) log-softmax over A, C, G, T
    hidden: Tensor  # (G, Lr, D)
    states: GenomambaState  # checkpoint states, row = checkpoint index * G + group
    checkpoints: dict[int, int]  # offset -> checkpoint index


def _score_dtype(t: Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def _log_probs(logits: Tensor) -> tuple[Tensor, Tensor]:
    """(B, L, V) logits -> log-softmax over the vocabulary and over the four nucleotides."""
    x = logits.to(_score_dtype(logits))
    return torch.log_softmax(x, -1), torch.log_softmax(x[..., :N_NUCLEOTIDES], -1)


def _ref_pass(model: GenomambaLM, groups: Sequence[ContextGroup], need: Sequence[int]) -> _RefPass:
    """The groups' REF sequences through the model in pieces ending at the checkpoints ``need``."""
    device = next(model.parameters()).device
    ids, mask = pad_token_ids([g.ref for g in groups], pad_id=PAD_ID)
    ids, mask = ids.to(device), mask.to(device)
    track = None
    if groups[0].track is not None:
        track = pad_token_ids([g.track for g in groups], pad_id=N_ID)[0].to(device)  # type: ignore[misc]
    G, Lr = ids.shape
    state = model.allocate_state(G, device)
    saved: dict[int, GenomambaState] = {0: state} if 0 in need else {}
    logits, hidden = [], []
    start = 0
    for stop in sorted({c for c in need if c > 0} | {Lr}):
        m = mask[:, start:stop]
        o = model(
            ids[:, start:stop], attention_mask=None if bool(m.all()) else m, state=state, return_state=True,
            track_ids=None if track is None else track[:, start : stop + 1],
        )
        state = o.state
        if stop in need:
            saved[stop] = state
        logits.append(o.logits)
        hidden.append(o.hidden_states)
        start = stop
    logp, logp4 = _log_probs(torch.cat(logits, 1))
    h = torch.cat(hidden, 1)
    order = sorted(saved)
    return _RefPass(
        ids=ids, track=track, lengths=np.array([len(g.ref) for g in groups]), logp=logp, logp4=logp4,
        hidden=h.to(_score_dtype(h)), states=GenomambaState.cat([saved[c] for c in order]),
        checkpoints={c: i for i, c in enumerate(order)},
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
    c = (o // every) * every  # each ALT run starts at the checkpoint at or before its SNV
    ref = _ref_pass(model, groups, sorted(set(c.tolist())))
    G = len(groups)
    rows = np.array([ref.checkpoints[x] for x in c.tolist()]) * G + g_of
    order = np.argsort(e - c, kind="stable")  # similar run lengths share a batch
    for b in range(0, len(order), batch_size):
        i = order[b : b + batch_size]
        llr, shift, influence = _alt_batch(model, ref, g_of[i], o[i], e[i], c[i], a[i], rows[i])
        out[0][slots[i]], out[1][slots[i]], out[2][slots[i]] = llr, shift, influence
        if progress is not None:
            progress(len(i))


def _alt_batch(
    model: GenomambaLM, ref: _RefPass, g: np.ndarray, o: np.ndarray, e: np.ndarray, c: np.ndarray, a: np.ndarray,
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ALT runs of M SNVs (group g, offset o, window end e, checkpoint c, ALT id a, state row) ->
    LLR, shift, influence float64 ``(M,)``."""
    dev = ref.ids.device
    La = int((e - c).max())
    # Each run reads La bases where its sequence has them (bases past its window end change
    # nothing before it), so that a batch usually needs no padding mask.
    run = np.minimum(La, ref.lengths[g] - c)
    G_t, c_t = torch.as_tensor(g, device=dev), torch.as_tensor(c, device=dev)
    o_t, e_t = torch.as_tensor(o, device=dev), torch.as_tensor(e, device=dev)
    r = torch.arange(La, device=dev)
    t = c_t[:, None] + r  # (M, La) position in the group's sequence
    real = r < torch.as_tensor(run, device=dev)[:, None]
    tokens = ref.ids[G_t[:, None], t.clamp(max=ref.ids.shape[1] - 1)]
    tokens = torch.where(real, tokens, PAD_ID)
    snv = torch.arange(len(g), device=dev)
    tokens[snv, o_t - c_t] = torch.as_tensor(a, device=dev)
    track = None
    if ref.track is not None:
        # codes at c .. c + run, the last one the code after the run's last base
        tt = c_t[:, None] + torch.arange(La + 1, device=dev)
        track = ref.track[G_t[:, None], tt.clamp(max=ref.track.shape[1] - 1)]
        track = torch.where(tt <= c_t[:, None] + torch.as_tensor(run, device=dev)[:, None], track, N_ID)
    state = ref.states.select(torch.as_tensor(rows, device=dev))
    res = model(tokens, attention_mask=None if bool(real.all()) else real, state=state, track_ids=track)
    alt_logp, alt_logp4 = _log_probs(res.logits)
    tc = t.clamp(max=ref.ids.shape[1] - 1)
    at = (G_t[:, None], tc)
    after = t >= o_t[:, None]  # positions from the SNV on
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
    own = ref.logp[G_t, prev, torch.as_tensor(a, device=dev)] - ref.logp[G_t, prev, ref.ids[G_t, o_t]]
    llr = llr + torch.where(o_t > 0, own, 0).double()
    return tuple(x.double().cpu().numpy() for x in (llr, shift, influence))  # type: ignore[return-value]
