"""Base-4 k-mer codes of token ids: the one home of k-mer coding.

A k-mer of nucleotide ids ``x_0 .. x_{k-1}`` (A=0 C=1 G=2 T=3, see :mod:`genomamba.tokens`) has
the code ``sum_j x_j * 4**(k-1-j)``: the first base is the most significant digit, so codes
sort like the k-mers' letters and index a ``(4**k,)`` table. A k-mer holding any other id
(N, PAD, special tokens) has no code; it is reported as invalid.

>>> import numpy as np
>>> codes, valid = kmer_codes(np.array([0, 1, 2, 3, 4, 0]), 2)  # AC CG GT TN NA
>>> codes.tolist(), valid.tolist()
([1, 6, 11, 12, 0], [True, True, True, False, False])
>>> reverse_complement_codes(np.array([1]), 2).tolist()  # RC(AC) = GT
[11]
>>> canonical_index(2)[[1, 11]].tolist()  # AC and GT are one canonical 2-mer
[1, 1]
"""

from __future__ import annotations

import numpy as np

from genomamba.tokens import N_NUCLEOTIDES

__all__ = ["MAX_K", "canonical_codes", "canonical_index", "kmer_codes", "reverse_complement_codes"]

#: Longest k whose codes fit in int64 (two bits per base, sign bit spare).
MAX_K = 31


def kmer_codes(ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Base-4 code of every k-mer along the last axis, and whether it is all nucleotides.

    Vectorised as ``k`` shifted views (no per-position Python loop).

    Args:
        ids: ``(..., L)`` integer token ids.
        k: k-mer length, ``1 <= k <= 31``.

    Returns:
        ``codes`` int64 ``(..., L - k + 1)``: ``codes[..., i]`` encodes ``ids[..., i : i + k]``
        (0 where that k-mer is invalid); ``valid`` bool ``(..., L - k + 1)``: True where all
        ``k`` ids are nucleotides. Both have last dimension 0 when ``L < k``.
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be in 1..{MAX_K} (2-bit codes in int64), got {k}")
    x = np.asarray(ids).astype(np.int64, copy=False)
    n_pos = max(x.shape[-1] - k + 1, 0)
    is_nucleotide = (x >= 0) & (x < N_NUCLEOTIDES)
    digits = np.where(is_nucleotide, x, 0)
    codes = np.zeros((*x.shape[:-1], n_pos), dtype=np.int64)
    valid = np.ones((*x.shape[:-1], n_pos), dtype=bool)
    for j in range(k):  # codes = sum_j x[t + j] * 4**(k-1-j), first base most significant
        codes = codes * N_NUCLEOTIDES + digits[..., j : j + n_pos]
        valid &= is_nucleotide[..., j : j + n_pos]
    return codes, valid


def reverse_complement_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """Codes of the reverse complements of the k-mers ``codes`` encodes.

    The complement of nucleotide id ``b`` is ``3 - b`` (A<->T, C<->G), so reading the digits
    least significant first and complementing each gives the reverse complement.

    Args:
        codes: ``(...)`` int64 k-mer codes (from :func:`kmer_codes`).
        k: their k-mer length.

    Returns:
        int64 ``(...)``, same shape.
    """
    rest = np.asarray(codes, dtype=np.int64)
    rc = np.zeros_like(rest)
    for _ in range(k):
        rc = rc * N_NUCLEOTIDES + (N_NUCLEOTIDES - 1 - rest % N_NUCLEOTIDES)
        rest = rest // N_NUCLEOTIDES
    return rc


def canonical_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """The smaller of each code and its reverse complement's (strand-agnostic k-mers).

    Args:
        codes: ``(...)`` int64 k-mer codes. k: their k-mer length.

    Returns:
        int64 ``(...)``, same shape.
    """
    return np.minimum(codes, reverse_complement_codes(codes, k))


def canonical_index(k: int) -> np.ndarray:
    """``(4**k,)`` table mapping each k-mer code to its canonical code (see :func:`canonical_codes`)."""
    return canonical_codes(np.arange(N_NUCLEOTIDES**k, dtype=np.int64), k)
