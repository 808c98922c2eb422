"""Batching variable-length token-id sequences: right padding with an attention mask.

>>> ids, mask = pad_token_ids([np.array([0, 1, 2]), np.array([3])])
>>> ids.tolist(), mask.tolist()
([[0, 1, 2], [3, 5, 5]], [[True, True, True], [True, False, False]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from genomamba.data.tokenizer import PAD_ID

__all__ = ["pad_token_ids"]


def pad_token_ids(seqs: Sequence[np.ndarray], pad_id: int = PAD_ID) -> tuple[Tensor, Tensor]:
    """Right-pad token-id sequences to the longest one.

    Args:
        seqs: B one-dimensional integer arrays ``(L_i,)``; lengths may differ and may be 0.
        pad_id: the id written after each sequence's end.

    Returns:
        ``input_ids`` int64 ``(B, L_max)`` and ``attention_mask`` bool ``(B, L_max)``, True on
        real positions.
    """
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    width = int(lengths.max()) if len(seqs) else 0
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
    attention_mask = torch.arange(width)[None, :] < lengths[:, None]  # (B, L_max)
    return torch.from_numpy(ids), attention_mask
