"""Zero-shot score summary and, with labels, zero-shot + supervised AUROC/AUPRC and ROC / PR curves."""

import csv
import json
import logging
import math
import sys

import numpy as np

from genomamba.downstream.variants.labels import labels_by_variant, read_labelled_variants
from genomamba.outputs import json_text, write_json

smk = snakemake  # noqa: F821  (injected by Snakemake's script: directive)
sys.stderr = open(smk.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")

CLASSIFIER_TITLE = {"logistic": "logistic regression", "hgb": "gradient boosting"}


def key(r):
    return (r["chrom"], int(r["pos"]), r["ref"].upper(), r["alt"].upper())


with open(smk.input.scores, newline="") as fh:
    scores = list(csv.DictReader(fh, delimiter="\t"))
status = {}
for r in scores:
    status[r["status"]] = status.get(r["status"], 0) + 1
ok = [float(r["score"]) for r in scores if r["status"] == "ok"]
metrics = {
    "model": smk.params.model,
    "vcf": smk.params.vcf,
    "n_variants": len(scores),
    "status_counts": status,
    "zero_shot_score": {
        "mean": float(np.mean(ok)) if ok else math.nan,
        "median": float(np.median(ok)) if ok else math.nan,
        "min": float(np.min(ok)) if ok else math.nan,
        "max": float(np.max(ok)) if ok else math.nan,
    },
}

if smk.input.labels:
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    labels = labels_by_variant(read_labelled_variants(smk.input.labels))
    sign = -1.0 if smk.params.positive_scores == "lower" else 1.0
    pairs = [(labels[key(r)], sign * float(r["score"])) for r in scores if r["status"] == "ok" and key(r) in labels]
    if not pairs or len({y for y, _ in pairs}) < 2:
        raise SystemExit(f"{smk.input.labels}: fewer than two label classes among the scored VCF records ({len(pairs)} matched)")
    y_zs, s_zs = np.array([y for y, _ in pairs]), np.array([s for _, s in pairs])
    curves = {"zero-shot": (y_zs, s_zs)}
    metrics["zero_shot"] = {
        "auroc": float(roc_auc_score(y_zs, s_zs)),
        "auprc": float(average_precision_score(y_zs, s_zs)),
        "n": int(len(y_zs)),
        "n_pos": int(y_zs.sum()),
        "n_labels_unmatched": int(len(labels) - len(pairs)),
        "ranking": f"{smk.params.positive_scores} score = more likely label 1",
    }
    # The hidden-state shift and the influence (larger = more damaging), where the TSV has them:
    # ranked the other way round.
    for column, title, key_name in (("shift", "hidden-state shift", "zero_shot_shift"), ("influence", "influence", "zero_shot_influence")):
        extra = [(labels[key(r)], -sign * float(r[column])) for r in scores
                 if r["status"] == "ok" and key(r) in labels and r.get(column) not in (None, "")]
        if len({y for y, _ in extra}) == 2:
            y_x, s_x = np.array([y for y, _ in extra]), np.array([s for _, s in extra])
            curves[f"zero-shot {title}"] = (y_x, s_x)
            metrics[key_name] = {
                "auroc": float(roc_auc_score(y_x, s_x)), "auprc": float(average_precision_score(y_x, s_x)),
                "n": int(len(y_x)), "n_pos": int(y_x.sum()),
                "ranking": f"{'higher' if smk.params.positive_scores == 'lower' else 'lower'} {column} = more likely label 1",
            }
    metrics["supervised"] = {}
    for name, path in zip(smk.params.classifiers, smk.input.supervised, strict=True):
        with open(path) as fh:
            sup = json.load(fh)
        curves[f"supervised, {CLASSIFIER_TITLE.get(name, name)}"] = (np.array(sup["labels"]), np.array(sup["oof_probability"]))
        metrics["supervised"][name] = {
            k: sup[k] for k in ("auroc", "auprc", "auroc_fold_std", "n", "n_pos", "per_bin", "features", "cv", "window",
                                "add_zero_shot", "n_features") if k in sup
        }
    metrics["chance_auprc"] = float(y_zs.mean())

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(11, 4.8))
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        prec, rec, _ = precision_recall_curve(y, s)
        ax_roc.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(y, s):.3f})")
        ax_pr.plot(rec, prec, label=f"{name} (AUPRC {average_precision_score(y, s):.3f})")
    ax_roc.plot([0, 1], [0, 1], ":", color="grey", label="chance (0.5)")
    ax_pr.axhline(y_zs.mean(), linestyle=":", color="grey", label=f"chance ({y_zs.mean():.2f})")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01), title="ROC")
    ax_pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01), title="Precision-recall")
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "lower left")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Variant effect: {len(y_zs)} labelled variants ({int(y_zs.sum())} label 1); supervised = out-of-fold CV")
    fig.tight_layout()
    fig.savefig(smk.output.roc, dpi=110)
    plt.close(fig)

write_json(smk.output.metrics, metrics)
logging.info("%s", json_text({k: v for k, v in metrics.items() if k != "supervised"}, indent=None))
