"""Supervised variant-effect prediction: window embeddings + a scikit-learn classifier.

Features per variant (``features``):
    "diff":   mean-pooled hidden state of the ALT window minus that of the REF window (D,)
    "concat": [REF embedding, ALT embedding] (2D,)
optionally with the zero-shot score appended (``add_zero_shot=True``). Hidden states are
mean-pooled over real (non-padding) positions of the window centred on the variant.

Evaluation: stratified k-fold cross-validation (``cv`` folds, shuffled with ``seed``); the
out-of-fold probabilities give AUROC (``roc_auc_score``) and AUPRC (``average_precision_score``),
overall, per fold, and per ``bin`` when the labelled variants carry one (the bundled
benchmark bins by substitution class: transition / transversion).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from genomamba.api import ModelLike, as_lm
from genomamba.data.batching import padded_model_inputs
from genomamba.data.fasta import GenomeFile
from genomamba.downstream.variants.scoring import score_variants
from genomamba.downstream.variants.vcf import Variant, validate_variants
from genomamba.downstream.variants.windows import build_variant_windows
from genomamba.errors import GenomambaError
from genomamba.models import GenomambaLM
from genomamba.models.pooling import masked_mean
from genomamba.progress import progress as progress_bar

__all__ = ["check_labelled_variants", "cross_validate_features", "embed_variant_windows", "finetune_variant_effect"]

_FEATURES = ("diff", "concat")
_CLASSIFIERS = ("logistic", "hgb")


@torch.inference_mode()
def _mean_pooled(
    model: GenomambaLM, seqs: Sequence[np.ndarray], batch_size: int, advance: Callable[[int], None] = lambda n: None,
) -> np.ndarray:
    """Mean of hidden states over real positions of N windows: float32 ``(N, D)``."""
    dev = next(model.parameters()).device
    out = []
    for b in range(0, len(seqs), batch_size):
        ids, mask = padded_model_inputs(seqs[b : b + batch_size], dev)
        h = model(ids, attention_mask=mask).hidden_states.float()  # (B, L, D)
        out.append(masked_mean(h, mask).cpu().numpy())  # padding never enters the mean
        advance(ids.shape[0])
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def embed_variant_windows(
    model: ModelLike, genome: GenomeFile, variants: Sequence[Variant], window: int = 256, batch_size: int = 64,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean-pooled (REF, ALT) window embeddings, each float32 ``(N, D)``; variants must be ``ok``.
    ``progress``: a progress bar (only when stderr is a terminal)."""
    model = as_lm(model)
    w = build_variant_windows(variants, genome, window)
    was_training = model.training
    model.eval()
    try:
        with progress_bar(2 * len(w.ref), "embedding variant windows", "windows", progress) as advance:
            return _mean_pooled(model, w.ref, batch_size, advance), _mean_pooled(model, w.alt, batch_size, advance)
    finally:
        model.train(was_training)


def _as_variant(x: Any, i: int) -> tuple[Variant, int, str]:
    if isinstance(x, Mapping):
        try:
            v = Variant(chrom=str(x["chrom"]), pos=int(x["pos"]), ref=str(x["ref"]).upper(), alt=str(x["alt"]).upper(), record=i + 1)
            return v, int(x["label"]), str(x.get("bin", "all"))
        except (KeyError, ValueError, TypeError) as e:
            raise GenomambaError(
                f"labelled variant {i + 1}: {e!r}; each item needs chrom, pos, ref, alt and an integer label 0/1"
            ) from None
    if isinstance(x, tuple) and len(x) in (2, 3) and isinstance(x[0], Variant):
        return x[0], int(x[1]), str(x[2]) if len(x) == 3 else "all"
    raise GenomambaError(f"labelled variant {i + 1}: expected a mapping or (Variant, label[, bin]), got {type(x).__name__}")


def _classifier(name: str, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=seed))
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(np.unique(y)) < 2:
        return {"auroc": float("nan"), "auprc": float("nan"), "n": int(len(y)), "n_pos": int(y.sum())}
    return {
        "auroc": float(roc_auc_score(y, p)),
        "auprc": float(average_precision_score(y, p)),
        "n": int(len(y)),
        "n_pos": int(y.sum()),
    }


def cross_validate_features(
    X: np.ndarray, y: np.ndarray, bins: Sequence[str] | None = None, classifier: str = "logistic", cv: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Stratified k-fold out-of-fold AUROC/AUPRC of ``classifier`` on features ``X`` (N, F), labels ``y`` (N,)."""
    from sklearn.model_selection import StratifiedKFold

    if classifier not in _CLASSIFIERS:
        raise GenomambaError(f"classifier must be one of {_CLASSIFIERS}, got {classifier!r}")
    y = np.asarray(y, dtype=np.int64)
    n_min = int(min(np.bincount(y, minlength=2)))
    if set(np.unique(y)) - {0, 1} or n_min < cv:
        raise GenomambaError(
            f"labels must be 0/1 with at least cv={cv} examples of each class; got counts {np.bincount(y).tolist()}"
        )
    oof = np.empty(len(y), dtype=np.float64)
    folds = []
    for tr, te in StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed).split(X, y):
        clf = _classifier(classifier, seed).fit(X[tr], y[tr])
        oof[te] = clf.predict_proba(X[te])[:, 1]
        folds.append(_metrics(y[te], oof[te]))
    res: dict[str, Any] = _metrics(y, oof)
    res["folds"] = folds
    res["auroc_fold_std"] = float(np.std([f["auroc"] for f in folds]))
    if bins is not None:
        b = np.asarray(bins)
        res["per_bin"] = {str(k): _metrics(y[b == k], oof[b == k]) for k in sorted(set(b.tolist()))}
    res["oof_probability"] = oof.tolist()
    return res


def check_labelled_variants(
    variants_with_labels: Sequence[Any], genome: GenomeFile
) -> tuple[list[Variant], np.ndarray, list[str]]:
    """The labelled variants as ``(variants, labels (N,) int64, bins)``, each checked against
    ``genome`` (contig, position, REF); GenomambaError naming the first that cannot be used."""
    parsed = [_as_variant(x, i) for i, x in enumerate(variants_with_labels)]
    variants = [p[0] for p in parsed]
    validate_variants(variants, genome, masked=False)  # embeddings accept SNVs and short indels alike
    bad = [v for v in variants if v.status != "ok"]
    if bad:
        v = bad[0]
        raise GenomambaError(
            f"{len(bad)} of {len(variants)} labelled variant(s) cannot be used on {genome.path.name}, e.g. {v.chrom}:{v.pos} "
            f"{v.ref}>{v.alt}: {v.status} ({v.message}); fix or remove them, or give the FASTA they were called on"
        )
    return variants, np.array([p[1] for p in parsed], dtype=np.int64), [p[2] for p in parsed]


def finetune_variant_effect(
    model: ModelLike,
    variants_with_labels: Sequence[Any],
    fasta: str | os.PathLike[str] | GenomeFile,
    features: str = "diff",
    classifier: str = "logistic",
    cv: int = 5,
    seed: int = 0,
    window: int = 256,
    add_zero_shot: bool = True,
    zero_shot_window: int | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Cross-validated supervised variant-effect classifier on frozen-model features.

    Args:
        model: a ``GenomambaModel`` or ``GenomambaLM`` (frozen; only the scikit-learn classifier is fitted).
        variants_with_labels: mappings with chrom, pos (1-based), ref, alt, label (0/1) and
            optional bin, or ``(Variant, label[, bin])`` tuples.
        fasta: reference FASTA the variants refer to.
        features: "diff" (ALT - REF embedding) or "concat" ([REF, ALT]).
        classifier: "logistic" (standardised L2 logistic regression) or "hgb"
            (HistGradientBoostingClassifier).
        window: embedding window (bp); ``zero_shot_window`` (default: same) for the score feature.

    Returns:
        dict with auroc, auprc, n, n_pos, folds, auroc_fold_std, per_bin, oof_probability,
        n_features, and the settings used.

    Raises:
        GenomambaError: unknown option, bad labels, or variants that cannot be scored
            (ref mismatch / unknown contig / unsupported: fix or drop them first).
    """
    model = as_lm(model)
    if features not in _FEATURES:
        raise GenomambaError(f"features must be one of {_FEATURES}, got {features!r}")
    genome = fasta if isinstance(fasta, GenomeFile) else GenomeFile(fasta)
    variants, y, bins = check_labelled_variants(variants_with_labels, genome)
    ref_e, alt_e = embed_variant_windows(model, genome, variants, window, batch_size)
    X = alt_e - ref_e if features == "diff" else np.concatenate([ref_e, alt_e], axis=1)
    if add_zero_shot:
        rows = score_variants(model, genome, variants, window=zero_shot_window or window, batch_size=batch_size)
        zs = np.array([r["score"] for r in rows], dtype=np.float64)
        zs = np.where(np.isfinite(zs), zs, 0.0)  # masked models leave indels unscored
        X = np.concatenate([X, zs[:, None]], axis=1)
    res = cross_validate_features(X.astype(np.float64), y, bins, classifier=classifier, cv=cv, seed=seed)
    res.update(
        features=features, classifier=classifier, cv=cv, seed=seed, window=window,
        add_zero_shot=add_zero_shot, n_features=int(X.shape[1]),
    )
    return res
