"""Collect per-length results into metrics.json, a confusion-matrix grid, accuracy by length and report.md."""

import json
import logging
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from genomamba.data.provenance import describe_held_out  # noqa: E402
from genomamba.downstream.stats import compare_accuracy, format_ci  # noqa: E402
from genomamba.outputs import write_json  # noqa: E402

smk = snakemake  # noqa: F821  (injected by Snakemake's script: directive)
sys.stderr = open(smk.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")

FEATURE_TITLE = {"embedding": "genomamba embedding"}
CLASSIFIER_TITLE = {"logistic": "logistic regression", "random_forest": "random forest", "hist_gradient_boosting": "gradient boosting"}


def short(species):
    """'Escherichia coli' -> 'E. coli' (axis labels)."""
    parts = species.split()
    return f"{parts[0][0]}. {' '.join(parts[1:])}" if len(parts) >= 2 else species


def feature_title(feature):
    return FEATURE_TITLE.get(feature, feature.replace("kmer_k", "") + "-mer frequencies")


per_length = []
for path in smk.input.classify:
    with open(path) as fh:
        per_length.append(json.load(fh))
per_length.sort(key=lambda r: r["window_length"])
with open(smk.input.split[0]) as fh:
    split = json.load(fh)
species = per_length[0]["species"]
chance = 1.0 / len(species)
cfg = smk.params.config
combos = [(f, c) for f in per_length[0]["results"] for c in per_length[0]["results"][f]]

# Embedding vs k-mer with the same classifier on the same held-out windows (paired).
paired = {}
kmer_features = [f for f in per_length[0]["results"] if f != "embedding"]
for r in per_length:
    res = r["results"]
    for kf in kmer_features:
        for c in res.get("embedding", {}):
            e, k = res["embedding"][c], res[kf][c]
            if e["test_true"] != k["test_true"]:
                raise SystemExit(f"L={r['window_length']}: embedding and {kf} were scored on different windows")
            paired[f"{r['window_length']}/{c}/embedding_vs_{kf}"] = compare_accuracy(
                e["test_true"], e["test_predictions"], k["test_predictions"], seed=cfg["seed"]
            )
half_widths = [
    (m["test_accuracy_ci"][1] - m["test_accuracy_ci"][0]) / 2 for r in per_length for f, c in combos
    for m in [r["results"][f][c]]
]

metrics = {
    "model": smk.params.model,
    "species": species,
    "chance": chance,
    "split": split["protocol"],
    "held_out": split["held_out"],
    "pretraining_overlap": split.get("pretraining_overlap"),
    "seed": cfg["seed"],
    "n_windows_per_species": {"train": cfg["n_windows"], "test": cfg["n_test_windows"]},
    "window_lengths": [r["window_length"] for r in per_length],
    "results": {str(r["window_length"]): r["results"] for r in per_length},
    "test_accuracy": {
        str(r["window_length"]): {f"{f}/{c}": r["results"][f][c]["test_accuracy"] for f, c in combos} for r in per_length
    },
    "test_accuracy_ci": {
        str(r["window_length"]): {f"{f}/{c}": r["results"][f][c]["test_accuracy_ci"] for f, c in combos} for r in per_length
    },
    "embedding_vs_kmer": paired,
    "max_ci_half_width": max(half_widths),
}
write_json(smk.output.metrics, metrics)

# Confusion matrices: one row of panels per window length, one column per feature set x classifier.
n_rows, n_cols = len(per_length), len(combos)
fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.4 * n_cols + 1.2, 3.3 * n_rows + 0.9), squeeze=False)
labels = [short(s) for s in species]
for i, r in enumerate(per_length):
    for j, (f, c) in enumerate(combos):
        ax = axes[i, j]
        m = np.asarray(r["results"][f][c]["confusion_matrix"], dtype=float)
        frac = m / np.maximum(m.sum(1, keepdims=True), 1)
        ax.imshow(frac, vmin=0, vmax=1, cmap="Blues")
        for (a, b), n in np.ndenumerate(m):
            ax.text(b, a, f"{int(n)}", ha="center", va="center", fontsize=9, color="white" if frac[a, b] > 0.6 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels if j == 0 else [""] * len(labels), fontsize=8)
        acc = r["results"][f][c]["test_accuracy"]
        ax.set_title(f"{feature_title(f)}\n{CLASSIFIER_TITLE.get(c, c)}, {r['window_length']} bp: acc {acc:.2f}", fontsize=9)
        if j == 0:
            ax.set_ylabel("true species")
        if i == n_rows - 1:
            ax.set_xlabel("predicted species")
fig.suptitle(f"Held-out confusion matrices ({split['protocol']} split; counts, colour = row fraction)", fontsize=11)
fig.tight_layout()
fig.savefig(smk.output.confusion, dpi=110)
plt.close(fig)

# Held-out accuracy against window length, with chance.
fig, ax = plt.subplots(figsize=(6.4, 5.2))
xs = [r["window_length"] for r in per_length]
for f, c in combos:
    ys = [r["results"][f][c]["test_accuracy"] for r in per_length]
    style = "-" if f == "embedding" else "--"
    ax.plot(xs, ys, style, marker="o", label=f"{feature_title(f)}, {CLASSIFIER_TITLE.get(c, c)}")
ax.axhline(chance, color="grey", linestyle=":", label=f"chance ({chance:.2f})")
ax.set_xscale("log", base=2)
ax.set_xticks(xs, [str(x) for x in xs])
ax.minorticks_off()
ax.set_ylim(0, 1.02)
ax.set_xlabel("window length (bp)")
ax.set_ylabel("held-out accuracy")
ax.set_title(f"Species classification, {len(species)} species ({split['protocol']} split)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
fig.tight_layout()
fig.savefig(smk.output.accuracy, dpi=110)
plt.close(fig)

# Markdown report.
rel = os.path.relpath
out_dir = os.path.dirname(smk.output.report)
lines = [
    "# Species classification report",
    "",
    f"- model: `{smk.params.model}`",
    f"- species ({len(species)}; chance {chance:.2f}): " + ", ".join(species),
    f"- split: **{split['protocol']}**; held out: "
    + "; ".join(f"{s}: {h}" for s, h in split["held_out"].items()),
    f"- {describe_held_out(split.get('pretraining_overlap'))}",
    f"- windows per species and length: {cfg['n_windows']} train, {cfg['n_test_windows']} held-out; seed {cfg['seed']}",
    "- CV: stratified k-fold accuracy on the training windows; held-out: fit on all training windows, scored on the test windows",
    "- held-out accuracy: 95% Wilson interval; embedding vs k-mer: the same classifier on the same held-out windows, "
    "accuracy difference with a paired bootstrap 95% CI and McNemar's exact p",
    "",
]
if max(half_widths) > 0.03:
    lines += [
        f"> **Too few held-out windows to compare models:** {cfg['n_test_windows']} per species give 95% CIs up to "
        f"±{max(half_widths):.3f} wide. A difference inside the CI is not an improvement; use about 150-200 held-out "
        "windows per species (n_test_windows) for ±0.03.",
        "",
    ]
lines += [
    "| window (bp) | features | classifier | CV accuracy | held-out accuracy [95% CI] | held-out macro-F1 |",
    "|---:|---|---|---|---:|---:|",
]
for r in per_length:
    for f, c in combos:
        m = r["results"][f][c]
        lines.append(
            f"| {r['window_length']} | {feature_title(f)} | {CLASSIFIER_TITLE.get(c, c)} | "
            f"{m['cv_accuracy_mean']:.3f} ± {m['cv_accuracy_std']:.3f} ({m['cv_folds']}-fold) | "
            f"{format_ci(m['test_accuracy'], m['test_accuracy_ci'])} | {m['test_macro_f1']:.3f} |"
        )
lines += [
    "",
    "| window (bp) | classifier | embedding - k-mer accuracy [95% CI] | discordant (emb. only / k-mer only) | McNemar p |",
    "|---:|---|---|---|---:|",
]
for key, d in paired.items():
    length, c, _ = key.split("/")
    lines.append(
        f"| {length} | {CLASSIFIER_TITLE.get(c, c)} | {format_ci(d['difference'], d['difference_ci'])} | "
        f"{d['discordant'][0]} / {d['discordant'][1]} | {d['mcnemar_p']:.3g} |"
    )
lines += [
    "",
    f"![accuracy by window length]({rel(smk.output.accuracy, out_dir)})",
    "",
    f"![confusion matrices]({rel(smk.output.confusion, out_dir)})",
    "",
    f"Full numbers: `{rel(smk.output.metrics, out_dir)}`.",
    "",
]
with open(smk.output.report, "w") as fh:
    fh.write("\n".join(lines))
logging.info("wrote %s", ", ".join(smk.output))
