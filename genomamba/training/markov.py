"""Order-k Markov baselines over ACGT, scored in bits per base.

The baseline every genomic language model must beat: an order-``k`` Markov chain
``P(x_t | x_{t-k} .. x_{t-1})`` with additive smoothing

    P(b | ctx) = (count(ctx, b) + alpha) / (count(ctx) + 4 * alpha),

``alpha = 1`` being Laplace's rule and ``alpha = 1/2`` the Krichevsky-Trofimov estimator
(Krichevsky & Trofimov, IEEE Trans. Inf. Theory 27(2), 1981). Counting is vectorised: each
position's (k+1)-mer gets an integer code in base 4 and ``np.bincount`` tallies them, so there
is no per-base Python loop (only a loop over the k+1 offsets).

Sequences are integer arrays in the tokenizer's id space (A=0, C=1, G=2, T=3); any id > 3
(N, PAD, specials) is "not a nucleotide". A position is counted / scored only when its target
and its whole context are nucleotides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from genomamba.data.kmers import kmer_codes as _kmer_codes
from genomamba.errors import ConfigError
from genomamba.tokens import N_NUCLEOTIDES

MAX_ORDER = 8
_NUC = N_NUCLEOTIDES


def _as_ids(seq: np.ndarray | Sequence[int]) -> np.ndarray:
    arr = np.asarray(seq)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D id array, got shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


def kmer_codes(seq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Base-4 codes of every ``(k+1)``-mer in ``seq`` and whether it is all-nucleotide.

    Args:
        seq: (n,) integer ids.
        k: context length (order); windows have length ``k + 1``.

    Returns:
        codes: (n - k,) int64, ``codes[i]`` encodes ``seq[i : i + k + 1]`` (target last).
        valid: (n - k,) bool, True where all ``k + 1`` ids are in ``0..3``.
    """
    return _kmer_codes(seq, k + 1)


@dataclass
class MarkovModel:
    """A fitted order-``k`` Markov chain: ``counts[ctx, base]`` with ``ctx`` in base-4."""

    order: int
    alpha: float
    counts: np.ndarray  # (4**order, 4) int64

    @classmethod
    def fit(cls, sequences: Iterable[np.ndarray], order: int, alpha: float = 0.5) -> MarkovModel:
        """Count (context, next base) pairs over ``sequences`` (each an (n,) id array)."""
        if not 0 <= order <= MAX_ORDER:
            raise ConfigError(f"Markov order must be in 0..{MAX_ORDER}, got {order}")
        if alpha <= 0:
            raise ConfigError(f"Markov smoothing alpha must be > 0, got {alpha}")
        n_codes = _NUC ** (order + 1)
        counts = np.zeros(n_codes, dtype=np.int64)
        for seq in sequences:
            codes, valid = kmer_codes(_as_ids(seq), order)
            counts += np.bincount(codes[valid], minlength=n_codes)
        return cls(order=order, alpha=float(alpha), counts=counts.reshape(_NUC**order, _NUC))

    def log2_probs(self) -> np.ndarray:
        """(4**order, 4) float64 smoothed ``log2 P(base | context)``."""
        c = self.counts.astype(np.float64) + self.alpha
        return np.log2(c / c.sum(axis=1, keepdims=True))

    def window_log_likelihood(self, windows: np.ndarray) -> np.ndarray:
        """Natural-log likelihood of each row, its first ``order`` bases taken as context only.

        The Markov counterpart of a causal model's window log-likelihood, so that the LLR of a
        variant, ``LL(alt window) - LL(ref window)``, is comparable with the model's (nats).
        Targets whose context or target is not a nucleotide are skipped.

        Args:
            windows: (N, L) integer ids.

        Returns:
            float64 (N,).
        """
        w = np.asarray(windows).astype(np.int64, copy=False)
        if w.ndim != 2:
            raise ValueError(f"windows must be (N, L), got shape {w.shape}")
        n, length = w.shape
        m = length - self.order
        if m <= 0:
            return np.zeros(n)
        codes, valid = _kmer_codes(w, self.order + 1)  # (N, m) codes of each (k+1)-mer, target last
        lp = self.log2_probs().reshape(-1) * math.log(2.0)  # log2 -> natural log
        return np.where(valid, lp[codes], 0.0).sum(1)

    def score(self, seq: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, int]:
        """Total bits and number of scored targets over one sequence.

        Args:
            seq: (n,) ids.
            mask: optional (n,) bool; only targets ``t`` with ``mask[t]`` are scored (on top of
                the rule that target and context must be nucleotides and ``t >= order``).

        Returns:
            (total bits = -sum log2 P, number of scored positions).
        """
        seq = _as_ids(seq)
        codes, valid = kmer_codes(seq, self.order)
        if mask is not None:
            valid = valid & np.asarray(mask, dtype=bool)[self.order :]
        lp = self.log2_probs().reshape(-1)
        return float(-lp[codes[valid]].sum()), int(valid.sum())

    def bits_per_base(self, sequences: Iterable[np.ndarray], masks: Iterable[np.ndarray] | None = None) -> float:
        """Mean bits per scored base over ``sequences`` (NaN when nothing is scorable)."""
        total, n = 0.0, 0
        mask_iter = iter(masks) if masks is not None else None
        for seq in sequences:
            bits, cnt = self.score(seq, None if mask_iter is None else next(mask_iter))
            total += bits
            n += cnt
        return total / n if n else math.nan


def scoring_mask(seq: np.ndarray, context: int = MAX_ORDER) -> np.ndarray:
    """(n,) bool: targets with ``context`` nucleotides before them, target a nucleotide too.

    Using the same mask for the model and for every Markov order makes all the bits-per-base
    figures averages over exactly the same held-out positions.
    """
    seq = _as_ids(seq)
    mask = np.zeros(seq.shape[0], dtype=bool)
    _, valid = kmer_codes(seq, context)
    mask[context:] = valid
    return mask


def markov_baselines(
    train_sequences: Iterable[np.ndarray],
    eval_sequences: Sequence[np.ndarray],
    orders: Iterable[int] = range(1, MAX_ORDER + 1),
    alpha: float = 0.5,
    eval_masks: Sequence[np.ndarray] | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> dict[int, float]:
    """Fit each order on ``train_sequences``; bits per base on ``eval_sequences``; ``advance(1)``
    after each order.

    Example (a period-2 sequence costs 1 bit per base at order 0 and ~0 at order 1):

    >>> import numpy as np
    >>> train = [np.tile([0, 1], 500)]
    >>> bpb = markov_baselines(train, [np.tile([0, 1], 10)], orders=[0, 1])
    >>> round(bpb[0], 2), bpb[1] < 0.01
    (1.0, True)
    """
    masks = list(eval_masks) if eval_masks is not None else None
    out: dict[int, float] = {}
    for k in orders:
        model = MarkovModel.fit(train_sequences, k, alpha)
        out[int(k)] = model.bits_per_base(eval_sequences, masks)
        advance(1)
    return out
