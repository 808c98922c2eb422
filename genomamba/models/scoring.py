"""Causal log-likelihoods of token ids under a language model.

>>> import torch
>>> logits = torch.zeros(1, 3, 4)  # a uniform model over 4 tokens
>>> next_token_log_probs(logits, torch.tensor([[0, 1, 2]])).exp().tolist()
[[0.25, 0.25]]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["log_likelihood_from_logits", "next_token_log_probs", "sequence_log_likelihood"]


def next_token_log_probs(logits: Tensor, input_ids: Tensor) -> Tensor:
    """``log p(x_t | x_<t)`` for t = 1 .. L-1.

    Args:
        logits: ``(B, L, V)``; position t predicts token t + 1.
        input_ids: ``(B, L)``.

    Returns:
        ``(B, L - 1)`` float32 (float64 for float64 logits): the log-softmax (over the full
        vocabulary) of each next token.
    """
    logp = F.log_softmax(logits[:, :-1].to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)  # (B, L-1, V)
    return logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1)


def sequence_log_likelihood(model: nn.Module, input_ids: Tensor, attention_mask: Tensor | None) -> Tensor:
    """Causal log-likelihood of each sequence: ``sum_{t>=1} log p(x_t | x_<t)``.

    The first token is context only (the models are trained without a BOS token).

    Args:
        model: a causal ``GenomambaLM``.
        input_ids: ``(B, L)`` right-padded token ids on the model's device.
        attention_mask: ``(B, L)`` bool, True on real positions (None: no padding).

    Returns:
        float32 ``(B,)``.
    """
    logits = model(input_ids, attention_mask=attention_mask).logits  # (B, L, V)
    return log_likelihood_from_logits(logits, input_ids, attention_mask)


def log_likelihood_from_logits(logits: Tensor, input_ids: Tensor, attention_mask: Tensor | None) -> Tensor:
    """:func:`sequence_log_likelihood` from logits already computed: ``(B, L, V)`` logits and
    ``(B, L)`` ids / mask -> float32 ``(B,)``."""
    per_token = next_token_log_probs(logits, input_ids)  # (B, L-1)
    if attention_mask is not None:
        per_token = per_token * attention_mask[:, 1:]  # pads after a sequence's end score 0
    return per_token.sum(-1)
