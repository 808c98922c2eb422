"""Cross-validated and held-out species accuracy of each classifier on each feature set of one length.

Per feature set (frozen embeddings, k-mer frequencies) and classifier: stratified k-fold CV
accuracy on the training windows, then a fit on all training windows and accuracy (95% Wilson
interval), macro-F1, the confusion matrix (rows: true species, columns: predicted) and each
window's prediction on the held-out windows.
"""

import json
import logging
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from genomamba.downstream.stats import wilson_ci
from genomamba.outputs import write_json

smk = snakemake  # noqa: F821  (injected by Snakemake's script: directive)
sys.stderr = open(smk.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")


def make_classifier(name, seed, threads):
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000, random_state=seed))
    if name == "random_forest":
        return RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=threads)
    if name == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
    raise ValueError(f"unknown classifier {name!r}")


p = smk.params
with open(smk.input.split) as fh:
    species = json.load(fh)["species"]
index = {s: i for i, s in enumerate(species)}
results = {}
for feature, path in zip(p.features, smk.input.features, strict=True):
    data = np.load(path)
    x_tr, x_te = data["X_train"].astype(np.float64), data["X_test"].astype(np.float64)
    y_tr = np.array([index[s] for s in data["species_train"]])
    y_te = np.array([index[s] for s in data["species_test"]])
    folds = min(p.cv_folds, int(np.bincount(y_tr).min()))
    if folds < 2:
        raise SystemExit(f"too few training windows per species for cross-validation ({np.bincount(y_tr).tolist()})")
    results[feature] = {}
    for name in p.classifiers:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=p.seed)
        cv_acc = cross_val_score(make_classifier(name, p.seed, smk.threads), x_tr, y_tr, cv=cv, scoring="accuracy")
        pred = make_classifier(name, p.seed, smk.threads).fit(x_tr, y_tr).predict(x_te)
        results[feature][name] = {
            "cv_accuracy_mean": float(cv_acc.mean()),
            "cv_accuracy_std": float(cv_acc.std()),
            "cv_folds": folds,
            "test_accuracy": float(accuracy_score(y_te, pred)),
            "test_accuracy_ci": list(wilson_ci(int((pred == y_te).sum()), len(y_te))),
            "test_macro_f1": float(f1_score(y_te, pred, labels=list(range(len(species))), average="macro", zero_division=0)),
            "confusion_matrix": confusion_matrix(y_te, pred, labels=list(range(len(species)))).tolist(),
            "n_train": int(len(y_tr)),
            "n_test": int(len(y_te)),
            "n_features": int(x_tr.shape[1]),
            # per held-out window, in the same order for every feature set: paired comparisons
            "test_true": y_te.tolist(),
            "test_predictions": pred.tolist(),
        }
        logging.info(
            "L=%s %s %s: CV %.3f +- %.3f, held-out %.3f",
            smk.wildcards.length, feature, name, cv_acc.mean(), cv_acc.std(), results[feature][name]["test_accuracy"],
        )

write_json(smk.output[0], {"window_length": int(smk.wildcards.length), "species": species, "results": results})
