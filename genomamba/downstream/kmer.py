"""k-mer frequency features and the k-mer + logistic-regression species baseline.

k-mer spectra (tetranucleotide frequencies in particular) are the classic alignment-free
signature of a bacterial genome (Karlin & Burge 1995; Teeling et al. 2004), so they are the
baseline a learned embedding has to beat on the same windows.

>>> kmer_frequencies(np.array([[0, 1, 2, 3, 0]]), k=2)[0].nonzero()[0].tolist()  # AC CG GT TA
[1, 6, 11, 12]
>>> kmer_frequencies(np.array([[0, 1, 4, 3, 0]]), k=2)[0].tolist()[1::11]  # N breaks k-mers: AC, TA
[0.5, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from genomamba.data.kmers import canonical_index, kmer_codes
from genomamba.errors import ConfigError
from genomamba.tokens import N_NUCLEOTIDES

__all__ = ["canonical_index", "classification_metrics", "fit_logistic", "kmer_baseline", "kmer_frequencies"]


def kmer_frequencies(ids: np.ndarray, k: int, canonical: bool = False) -> np.ndarray:
    """Normalised k-mer counts of each row (vectorised: one ``bincount`` for the whole batch).

    Args:
        ids: ``(N, L)`` token ids (A=0 C=1 G=2 T=3; any other id, e.g. N or PAD, breaks k-mers).
        k: k-mer length (1..12).
        canonical: merge each k-mer with its reverse complement (strand-agnostic features).

    Returns:
        float32 ``(N, 4**k)``; rows sum to 1 (0 for rows without a valid k-mer).
    """
    if not 1 <= k <= 12:
        raise ConfigError(f"k must be in 1..12 (4**k features), got {k}")
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"ids must be (N, L), got shape {ids.shape}")
    N, L = ids.shape
    n_feat = N_NUCLEOTIDES**k
    if L < k:
        return np.zeros((N, n_feat), dtype=np.float32)
    code, valid = kmer_codes(ids, k)  # (N, L - k + 1) each
    if canonical:
        code = canonical_index(k)[code]
    flat = (np.arange(N)[:, None] * n_feat + code)[valid]
    counts = np.bincount(flat, minlength=N * n_feat).reshape(N, n_feat).astype(np.float32)
    total = counts.sum(1, keepdims=True)
    return counts / np.maximum(total, 1.0)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy with its 95% Wilson interval, macro-F1 and the confusion matrix (rows: true
    class, columns: predicted)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    from genomamba.downstream.stats import wilson_ci

    idx = list(range(len(labels)))
    n_right = int((np.asarray(y_true) == np.asarray(y_pred)).sum())
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "accuracy_ci": list(wilson_ci(n_right, len(y_true))),
        "macro_f1": float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
        "labels": list(labels),
        "n": int(len(y_true)),
    }


def fit_logistic(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, C: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Standardise features, fit a multinomial logistic regression, predict ``x_test`` labels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y_train)) < 2:
        raise ConfigError("the training windows cover fewer than two classes; nothing to classify")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
    clf.fit(x_train, y_train)
    return clf.predict(x_test)


def kmer_baseline(
    train_ids: np.ndarray,
    y_train: np.ndarray,
    test_ids: np.ndarray,
    y_test: np.ndarray,
    labels: Sequence[str],
    k: int = 4,
    canonical: bool = False,
    C: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """k-mer frequencies + standardised logistic regression; metrics on the test windows.

    Args:
        train_ids, test_ids: ``(N, L)`` window token ids; y_train, y_test: ``(N,)`` labels.

    Returns:
        :func:`classification_metrics` plus ``k``, ``canonical`` and ``predictions`` (the test
        windows' predicted labels, for paired comparisons on the same windows).
    """
    pred = fit_logistic(kmer_frequencies(train_ids, k, canonical), y_train, kmer_frequencies(test_ids, k, canonical), C, seed)
    return {"k": k, "canonical": canonical, **classification_metrics(y_test, pred, labels), "predictions": pred.tolist()}
