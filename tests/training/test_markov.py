"""Markov baseline: hand-computed probabilities, N handling, and the vectorised counting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genomamba.errors import ConfigError
from genomamba.training.markov import MarkovModel, kmer_codes, markov_baselines, scoring_mask

A, C, G, T, N = 0, 1, 2, 3, 4


def test_order1_laplace_hand_computed() -> None:
    train = np.array([A, C, G, T, A, C, G, T])
    model = MarkovModel.fit([train], order=1, alpha=1.0)
    # Transitions: A->C x2, C->G x2, G->T x2, T->A x1.
    assert model.counts[A].tolist() == [0, 2, 0, 0]
    assert model.counts[T].tolist() == [1, 0, 0, 0]
    # P(C|A) = P(G|C) = P(T|G) = (2+1)/(2+4) = 1/2 ; P(A|T) = (1+1)/(1+4) = 2/5.
    bits, n = model.score(np.array([A, C, G, T, A]))
    assert n == 4
    assert bits == pytest.approx(3.0 - math.log2(0.4))
    # An unseen context falls back to uniform: P(x|ctx) = 1/4 -> 2 bits.
    empty = MarkovModel.fit([np.array([A])], order=1, alpha=0.5)
    assert empty.bits_per_base([np.array([G, T])]) == pytest.approx(2.0)


def test_kt_estimator_order0() -> None:
    model = MarkovModel.fit([np.array([A, A, A, C])], order=0, alpha=0.5)
    # P(A) = 3.5/6, P(C) = 1.5/6.
    bits, n = model.score(np.array([A, C]))
    assert n == 2
    assert bits == pytest.approx(-math.log2(3.5 / 6) - math.log2(1.5 / 6))


def test_n_in_context_or_target_is_skipped() -> None:
    model = MarkovModel.fit([np.array([A, C, N, G, T, N])], order=1, alpha=1.0)
    # Only A->C and G->T are countable (C->N, N->G, T->N contain an N).
    assert int(model.counts.sum()) == 2
    _, n = model.score(np.array([A, C, N, G, T]))
    assert n == 2  # targets C (ctx A) and T (ctx G); N target and N context skipped


def test_kmer_codes_match_naive() -> None:
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 5, size=217)  # includes N (4)
    for k in (0, 1, 3, 8):
        codes, valid = kmer_codes(seq, k)
        for i in range(0, len(seq) - k, 13):
            window = seq[i : i + k + 1]
            assert valid[i] == bool((window < 4).all())
            if valid[i]:
                assert codes[i] == int("".join(map(str, window)), 4)


def test_scoring_mask_and_baselines_share_positions() -> None:
    seq = np.array([A, C, G, T, N, A, C, G, T, A, C, G])
    mask = scoring_mask(seq, context=2)
    # Targets need 2 nucleotide predecessors and must be a nucleotide themselves.
    assert mask.tolist() == [False, False, True, True, False, False, False, True, True, True, True, True]
    bpb = markov_baselines([np.tile([A, C, G, T], 50)], [seq], orders=[1, 2], eval_masks=[mask])
    assert set(bpb) == {1, 2}
    assert all(0 < v < 0.1 for v in bpb.values())


def test_invalid_arguments() -> None:
    with pytest.raises(ConfigError, match="order"):
        MarkovModel.fit([np.array([A])], order=9)
    with pytest.raises(ConfigError, match="alpha"):
        MarkovModel.fit([np.array([A])], order=1, alpha=0.0)


def test_training_sequences_in_pieces_count_like_whole_intervals(bundled_fasta) -> None:
    """The lazy, piece-wise training split (a human genome is never held whole as ids) gives the
    order-8 counts of the whole intervals exactly, and lower orders within a few transitions per
    piece boundary; a second pass yields the same pieces."""
    from genomamba.data import GenomeDataModule
    from genomamba.training.evaluation import training_sequences
    from genomamba.training.markov import MAX_ORDER

    dm = GenomeDataModule(bundled_fasta, window_length=128)
    dm.setup("fit")
    whole = list(training_sequences(dm))  # 4.9 Mb genome < default piece: one array per interval
    assert [len(x) for x in whole] == [iv.length for ivs in dm.splits["train"] for iv in ivs]
    pieces = training_sequences(dm, piece=100_000)
    first = list(pieces)
    assert len(first) > 40 and max(len(x) for x in first) <= 100_000 + MAX_ORDER
    assert all(np.array_equal(a, b) for a, b in zip(first, pieces, strict=True))  # re-iterable
    boundaries = len(first) - len(whole)
    for order in (8, 5, 2):
        exact = MarkovModel.fit(whole, order).counts
        piecewise = MarkovModel.fit(first, order).counts
        extra = int((piecewise - exact).sum())
        assert (piecewise >= exact).all() and extra == (MAX_ORDER - order) * boundaries
