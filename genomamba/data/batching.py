"""Batching: right padding of token-id sequences, the window collate function and the key sampler
of :class:`~genomamba.data.windows.RandomWindowDataset`.

* :func:`pad_token_ids` right-pads id sequences to one ``(B, L_max)`` batch with an attention
  mask: the one padding routine of the package (windows, embeddings, variant scoring).
* :func:`padded_model_inputs` pads on a device for one forward pass, without a mask when no
  row is padded.
* :func:`collate_windows` batches window items with it.
* :class:`EpochKeySampler` hands a keyed dataset the keys ``epoch * n + i`` (new windows each
  epoch; exact mid-epoch resume; data-parallel ranks share one key stream).

>>> ids, mask = pad_token_ids([np.array([0, 1, 2]), np.array([3])])
>>> ids.tolist(), mask.tolist()
([[0, 1, 2], [3, 5, 5]], [[True, True, True], [True, False, False]])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DistributedSampler

from genomamba.errors import ConfigError
from genomamba.tokens import N_ID, PAD_ID

__all__ = ["EpochKeySampler", "collate_windows", "pad_token_ids", "padded_model_inputs"]


def pad_token_ids(seqs: Sequence[np.ndarray | Tensor], pad_id: int = PAD_ID) -> tuple[Tensor, Tensor]:
    """Right-pad token-id sequences to the longest one.

    Args:
        seqs: B one-dimensional integer arrays or tensors ``(L_i,)``; lengths may differ and may be 0.
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


def padded_model_inputs(
    seqs: Sequence[np.ndarray | Tensor], device: torch.device | str, pad_id: int = PAD_ID
) -> tuple[Tensor, Tensor | None]:
    """:func:`pad_token_ids` on ``device``, with the mask dropped when no row is padded.

    A model given no mask takes its unmasked path, which skips the masking work when every
    sequence of the batch has the same length.

    Returns:
        ``input_ids`` int64 ``(B, L_max)`` and ``attention_mask`` bool ``(B, L_max)`` or None.

    >>> ids, mask = padded_model_inputs([np.array([0, 1]), np.array([2, 3])], "cpu")
    >>> ids.shape, mask
    (torch.Size([2, 2]), None)
    """
    input_ids, attention_mask = pad_token_ids(seqs, pad_id)
    if bool(attention_mask.all()):
        return input_ids.to(device), None
    return input_ids.to(device), attention_mask.to(device)


class EpochKeySampler(DistributedSampler):
    """Yields keys ``epoch * n .. epoch * n + n - 1`` for a keyed dataset (new windows each epoch).

    ``set_epoch`` (called by Lightning, as for ``DistributedSampler``) fixes the epoch; each
    pass also advances it, so plain PyTorch loops get fresh windows too. ``resume_at(epoch,
    consumed)`` makes the next pass start ``consumed`` keys into ``epoch``, so a run resumed
    mid-epoch sees exactly the windows an uninterrupted run would have seen next.

    Data-parallel: with ``num_replicas=W`` replica ``rank`` takes every ``W``-th key of the
    epoch's stream (``rank, rank + W, ...``; the last ``n mod W`` keys are dropped so every
    rank has as many). Each optimiser step of ``W`` ranks with batch ``B`` therefore consumes
    the next ``W * B`` keys of the single stream, the keys a single process with batch ``W * B``
    would use, and what has been trained on is always a prefix of the epoch. ``consumed`` in
    ``resume_at`` counts keys of that global stream, so each rank resumes its own stream exactly
    (also with another world size that divides it; otherwise the skip is rounded up to the next
    multiple of ``W``, dropping at most ``W - 1`` windows). It subclasses ``DistributedSampler``
    so that Lightning uses it as is instead of wrapping it in a sampler of its own.

    Args:
        num_samples: keys per epoch ``n`` over all replicas.
        epoch: first epoch.
        rank, num_replicas: this replica and the number of replicas (global rank, world size).
    """

    def __init__(self, num_samples: int, epoch: int = 0, *, rank: int = 0, num_replicas: int = 1):
        # DistributedSampler.__init__ is not called: it needs a dataset and a process group,
        # neither of which a key stream uses.
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}")
        if num_samples < num_replicas:
            raise ConfigError(
                f"train_samples_per_epoch={num_samples} is smaller than the number of data-parallel ranks "
                f"({num_replicas}); raise it"
            )
        self.num_samples = int(num_samples)
        self.epoch = int(epoch)
        self.rank = int(rank)
        self.num_replicas = int(num_replicas)
        self.shuffle = False  # read by Lightning: the order is fixed by the keys
        self.drop_last = True
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume_at(self, epoch: int, consumed: int) -> None:
        """Start the next pass ``consumed`` keys (of all ranks together) into ``epoch``."""
        W = self.num_replicas
        consumed = min(max(int(consumed), 0), self.num_samples)
        self.epoch = int(epoch)
        self._resume = (int(epoch), -(-consumed // W) * W)

    def _per_epoch(self) -> int:
        return self.num_samples // self.num_replicas * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        e, skip = self.epoch, 0
        if self._resume is not None:
            # Only the pass of the resumed epoch starts part-way; later epochs are whole.
            if self._resume[0] == e:
                skip = self._resume[1]
            self._resume = None
        self.epoch += 1
        first = e * self.num_samples
        return iter(range(first + skip + self.rank, first + self._per_epoch(), self.num_replicas))

    def __len__(self) -> int:
        return self._per_epoch() // self.num_replicas


def collate_windows(items: Sequence[dict[str, Any]], pad_id: int = PAD_ID) -> dict[str, Any]:
    """Batch window items, right-padding to the longest with ``pad_id``.

    Returns:
        ``input_ids`` (B, L) long, ``soft_mask`` (B, L) bool, ``attention_mask`` (B, L) bool
        (False on padding), ``labels`` (B,) long, ``start`` (B,) long, and lists ``genome``,
        ``contig``, ``strand``; ``track_ids`` (B, L) long (padded with N) when the items have it.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    input_ids, attention_mask = pad_token_ids([x["input_ids"] for x in items], pad_id=pad_id)
    soft_mask = pad_token_ids([x["soft_mask"] for x in items], pad_id=0)[0].bool()
    batch = {
        "input_ids": input_ids,
        "soft_mask": soft_mask,
        "attention_mask": attention_mask,
        "labels": torch.stack([torch.as_tensor(x["label"], dtype=torch.long) for x in items]),
        "start": torch.tensor([int(x["start"]) for x in items], dtype=torch.long),
        "genome": [x["genome"] for x in items],
        "contig": [x["contig"] for x in items],
        "strand": [x["strand"] for x in items],
    }
    if "track_ids" in items[0]:  # a relative track: padded with N (nothing aligned)
        batch["track_ids"] = pad_token_ids([x["track_ids"] for x in items], pad_id=N_ID)[0]
    return batch
