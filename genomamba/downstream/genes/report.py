"""Report of the gene-based SNV benchmark: the scores table, the figure and the Markdown
summary of :func:`~genomamba.downstream.genes.metrics.evaluate_gene_benchmark`."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genomamba.data.provenance import describe_held_out
from genomamba.downstream.genes.metrics import CONTRASTS
from genomamba.downstream.stats import format_ci
from genomamba.outputs import atomic_write_bytes, atomic_write_text

__all__ = ["plot_benchmark", "write_benchmark_scores", "write_report"]


# Scorers that are not log-likelihood ratios (left out of the codon-position LLR panel).
NOT_LLR = ("model_shift", "model_influence", "transversion_rule", "relative_species")
SCORER_LABEL = {
    "model": "model LLR", "model_shift": "model hidden-state shift", "model_influence": "model influence",
    "codon_usage": "codon usage (given frame)", "transversion_rule": "transversion rule",
    "relative_species": "related species (aligned base)",
}


def plot_benchmark(metrics: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Two panels: mean LLR at codon positions 1-3 and the zero-shot AUROCs, each scorer with 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(metrics["scorers"])
    # Panel 1 compares log-likelihood ratios (nats); the shift, the influence and the rule are on other scales.
    llr_names = [n for n in names if n not in NOT_LLR]
    colour = {"model": "black", "model_shift": "dimgrey", "model_influence": "darkred"}
    baselines = [n for n in names if n not in colour]
    colour |= {n: f"C{baselines.index(n)}" for n in baselines}  # same colour in both panels
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        m = metrics["scorers"][name]
        label = SCORER_LABEL.get(name, name.replace("markov_k", "Markov k="))
        if name in llr_names:
            k = llr_names.index(name)
            x = np.arange(3) + (k - (len(llr_names) - 1) / 2) * 0.8 / len(llr_names)
            cp = [m["codon_position"][str(p)] for p in (1, 2, 3)]
            mean = np.array([c["mean"] for c in cp])
            err = np.array([[c["mean"] - c["ci"][0] for c in cp], [c["ci"][1] - c["mean"] for c in cp]])
            ax1.bar(x, mean, 0.8 / len(llr_names), yerr=err, capsize=2, color=colour[name],
                    alpha=1.0 if name == "model" else 0.75, label=label)
        for j, cls in enumerate(("nonsense", "missense")):
            a = m["auroc_vs_synonymous"].get(cls)
            if a:
                xx = j + (i - (len(names) - 1) / 2) * width
                ax2.errorbar(xx, a["auroc"], yerr=[[a["auroc"] - a["ci"][0]], [a["ci"][1] - a["auroc"]]], fmt="o",
                             color=colour[name], capsize=2, label=label if j == 0 else None)
    ax1.set(xticks=range(3), xticklabels=["codon pos 1", "codon pos 2", "codon pos 3"], ylabel="mean LLR (nats)",
            title="Mean LLR by codon position (uniform coding SNVs)")
    ax1.axhline(0, color="grey", lw=0.8)
    ax1.legend(fontsize=7, ncol=2)
    ax2.axhline(0.5, color="grey", ls=":", label="chance")
    ax2.set(xticks=[0, 1], xticklabels=["nonsense vs synonymous", "missense vs synonymous"], ylabel="zero-shot AUROC",
            title="Zero-shot AUROC, 95% bootstrap CI (black = model)", ylim=(0.3, 1.0))
    ax2.legend(fontsize=7, ncol=2, loc="upper right")
    fig.suptitle(f"Gene-based SNV benchmark: {Path(metrics['vcf']).name}", fontsize=10)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, png.getvalue(), option="plot")


def write_report(metrics: dict[str, Any], path: str | os.PathLike[str], plot: str | None = None) -> Path:
    """Markdown report of :func:`evaluate_gene_benchmark`'s metrics."""
    sc = metrics["scorers"]
    lines = [
        "# Gene-based variant benchmark",
        "",
        f"- benchmark: `{metrics['vcf']}` ({metrics['n_variants']} SNVs) on `{Path(metrics['fasta']).name}`, "
        f"region(s) {', '.join(metrics['benchmark_regions'])}",
        f"- scoring window {metrics['window']} bp, both strands; LLR = log P(alt window) - log P(ref window) in nats "
        "(masked models: the GPN masked-logit score)",
        f"- Markov baselines fitted on both strands of the {metrics['markov_training_bp']:,} bp outside the benchmark "
        "region (the training split)",
        "- labels: Prodigal gene calls + translation table 11 (expected consequences, not measured fitness)",
        *([f"- model: {describe_held_out(metrics.get('pretraining_overlap'))}"] if "model" in sc else []),
        *([f"- `codon_usage`: a frame-aware reference *given* the gene calls, log f(ALT codon) - log f(REF codon) with "
           f"the codon usage of the {metrics.get('codon_usage_training_genes', 0):,} complete genes in the training split; "
           "coding SNVs only. It knows the reading frame but no protein, so a missense AUROC above it needs "
           "protein-level knowledge"] if "codon_usage" in sc else []),
        *([f"- `relative_species`: a conservation reference from one related genome, "
           f"`{Path(metrics['relative_species']['fasta']).name}`: each gene aligned to its best homolog there through "
           f"the protein ({metrics['relative_species']['genes_with_homolog']} of {metrics['relative_species']['genes']} "
           f"benchmark genes have one; {metrics['relative_species']['snvs_with_aligned_base']} of "
           f"{metrics['relative_species']['coding_snvs']} coding SNVs get an aligned base); an SNV scores +1 if the "
           "relative carries the ALT base there, -1 if it carries the REF base, 0 otherwise. It uses no genetic code "
           "and no model: what aligned related genomes tell"] if "relative_species" in sc else []),
        *(["- `model_shift`: minus the model's hidden-state shift (the largest distance between REF and ALT "
           "final hidden states over the window's positions and both strands; larger shift = more damaging)"]
          if "model_shift" in sc else []),
        *(["- `model_influence`: minus the model's influence (the KL divergence of its next-base predictions after "
           "the SNV, REF against ALT window, summed over positions and averaged over both strands, in nats; larger "
           "influence = more damaging)"] if "model_influence" in sc else []),
        *(["- `transversion_rule`: transversions rank as damaging, transitions not, and nothing else. A missense "
           "score must beat it to show more than substitution type"] if "transversion_rule" in sc else []),
        "- 95% CIs: stratified bootstrap (AUROC), bootstrap (means), 2000 replicates",
        "",
        "## Zero-shot AUROC vs synonymous (damaging = lower score)",
        "",
        "| scorer | " + " | ".join(f"{c} vs syn." for c in CONTRASTS) + " | codon pos. 3 > 1,2 |",
        "|---|" + "---|" * (len(CONTRASTS) + 1),
    ]
    for name, m in sc.items():
        cells = [format_ci(m["auroc_vs_synonymous"][c]["auroc"], m["auroc_vs_synonymous"][c]["ci"])
                 if c in m["auroc_vs_synonymous"] else "-" for c in CONTRASTS]
        cp = m.get("codon_position_auroc")
        cells.append(format_ci(cp["auroc"], cp["ci"]) if cp else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Mean LLR by codon position (uniform sample of interior coding SNVs)", "",
              "| scorer | position 1 | position 2 | position 3 |", "|---|---|---|---|"]
    for name, m in sc.items():
        if name in NOT_LLR:  # not log-likelihood ratios (their codon-position AUROC is in the table above)
            continue
        cells = [format_ci(m["codon_position"][p]["mean"], m["codon_position"][p]["ci"]) if m["codon_position"][p]["n"]
                 else "-" for p in ("1", "2", "3")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Within one substitution type (the transversion rule cannot rank these)", "",
              "Pooled: only pairs of the same substitution type are compared (the rule scores 0.5 on it).", "",
              "| scorer | missense, pooled | missense, transitions | missense, transversions | nonsense, pooled | "
              "nonsense, transitions | nonsense, transversions |",
              "|---|---|---|---|---|---|---|"]
    for name, m in sc.items():
        by = m.get("auroc_by_substitution", {})
        pooled = m.get("auroc_within_substitution", {})
        if name == "transversion_rule" or not by:
            continue
        cells = []
        for c in ("missense", "nonsense"):
            cells.append(format_ci(pooled[c]["auroc"], pooled[c]["ci"]) if c in pooled else "-")
            cells += [format_ci(by[c][k]["auroc"], by[c][k]["ci"]) + f" (n={by[c][k]['n_pos'] + by[c][k]['n_neg']})"
                      if k in by.get(c, {}) else "-" for k in ("transitions", "transversions")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    comp = metrics.get("model_minus_best_markov")
    if comp:
        lines += ["", "## Model minus the best Markov order (paired bootstrap)", "",
                  "The best order is picked on these same SNVs, which favours the baseline.", "",
                  "| contrast | best order | AUROC model | AUROC Markov | difference [95% CI] |", "|---|---|---|---|---|"]
        for c, d in comp.items():
            lines.append(f"| {c} | {d['best_markov_order']} | {d['auroc_a']:.3f} | {d['auroc_b']:.3f} | "
                         f"{format_ci(d['difference'], d['ci'])} |")
    paired = metrics.get("paired_differences")
    if paired:
        lines += ["", "## Each model score minus its baselines (paired bootstrap, same SNVs)", "",
                  "| model score | baseline | contrast | AUROC model | AUROC baseline | difference [95% CI] |",
                  "|---|---|---|---|---|---|"]
        for d in paired.values():
            within = " (same substitution type)" if d.get("statistic") == "auroc_within_substitution" else ""
            lines.append(f"| {d['scorer']} | {d['baseline']} | {d['contrast']} vs syn.{within} | {d['auroc_a']:.3f} | "
                         f"{d['auroc_b']:.3f} | {format_ci(d['difference'], d['ci'])} |")
    sup = metrics.get("supervised")
    if sup:
        lines += ["", f"## Supervised heads ({sup['cv']}-fold CV, logistic regression, {sup['window']} bp windows)", "",
                  f"Model: ALT - REF mean-pooled embeddings. k-mer: REF {sup['kmer_k']}-mer frequencies and ALT - REF "
                  "differences. Same SNVs and folds.", "",
                  "| contrast | model AUROC | k-mer AUROC | model - k-mer [95% CI] |", "|---|---|---|---|"]
        for key, r in sup.items():
            if not isinstance(r, dict):
                continue
            d = r["model_minus_kmer"]
            lines.append(f"| {key} | {format_ci(r['model']['auroc'], r['model']['ci'])} | "
                         f"{format_ci(r['kmer']['auroc'], r['kmer']['ci'])} | {format_ci(d['difference'], d['ci'])} |")
    lines += ["", "A difference whose CI contains 0 is not an improvement."]
    if plot:
        lines += ["", f"![codon position and AUROC]({plot})"]
    return atomic_write_text(path, "\n".join(lines) + "\n", option="report")


def write_benchmark_scores(
    labels: Sequence[dict[str, Any]], scores: dict[str, np.ndarray], path: str | os.PathLike[str]
) -> None:
    """One row per benchmark SNV (``labels``, N rows) with a column per scorer (``scores``: name ->
    ``(N,)``, aligned with ``labels``)."""
    buf = io.StringIO()
    wr = csv.writer(buf, delimiter="\t", lineterminator="\n")
    wr.writerow(["id", "chrom", "pos", "ref", "alt", "consequence", "sample", "codon_position", *scores])
    for i, r in enumerate(labels):
        wr.writerow([r["id"], r["chrom"], r["pos"], r["ref"], r["alt"], r["consequence"], r["sample"],
                     r["codon_position"], *(f"{v[i]:.6g}" for v in scores.values())])
    atomic_write_text(path, buf.getvalue(), option="scores")
