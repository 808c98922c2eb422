"""Metrics of the gene-based SNV benchmark (:mod:`genomamba.downstream.gene_benchmark`).

For the model and, side by side, order-k Markov baselines (k = 2..8 by default):

* **zero-shot AUROC** of each damaging class against synonymous SNVs (``stratified`` sample):
  nonsense vs synonymous and missense vs synonymous are the headline; start_lost, stop_lost
  and intergenic vs synonymous are reported too. A damaging ALT should score *lower*, so the
  AUROC ranks by ``-score``; 95% stratified-bootstrap CIs (:mod:`genomamba.downstream.stats`).
* **codon position** (``uniform`` sample of interior coding SNVs): the mean LLR at codon
  positions 1, 2 and 3 with bootstrap CIs, and the AUROC of "position 3 scores higher than
  positions 1 and 2" (0.5 = the scorer does not see the reading frame).
* **paired differences**: model minus the best Markov order (best on these same SNVs, which
  favours the baseline), paired bootstrap CI.
* **supervised heads**, cross-validated on the same SNVs with the same folds: a logistic
  regression on the model's ALT - REF window embeddings, beside one on k-mer features of the
  same windows (REF k-mer frequencies and ALT - REF differences).

Markov LLR: each order is fitted on both strands of every base *outside* the benchmark region
(the regions recorded in the VCF header: the training split) and scores the same windows as the
model, both strands averaged, in nats: ``LL(alt window) - LL(ref window)``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import DNATokenizer
from genomamba.downstream.gene_benchmark import (
    complement_regions,
    parse_regions,
    read_benchmark_labels,
    read_benchmark_regions,
)
from genomamba.downstream.stats import auroc_ci, format_ci, mean_ci, paired_auroc_difference
from genomamba.downstream.variants import Variant, _build_windows
from genomamba.errors import ConfigError, GenomambaError

__all__ = [
    "CONTRASTS",
    "evaluate_gene_benchmark",
    "markov_llr",
    "scorer_metrics",
    "supervised_heads",
    "variant_benchmark_main",
    "write_report",
]

CONTRASTS = ("nonsense", "missense", "start_lost", "stop_lost", "intergenic")  # each vs synonymous
_TOK = DNATokenizer()


def _variants(labels: Sequence[dict[str, Any]]) -> list[Variant]:
    return [Variant(r["chrom"], int(r["pos"]), r["ref"], r["alt"], id=r.get("id", "."), record=i + 1)
            for i, r in enumerate(labels)]


def markov_llr(
    genome: GenomeFile, labels: Sequence[dict[str, Any]], train_regions: Sequence[Any], orders: Sequence[int],
    window: int, alpha: float = 0.5,
) -> dict[int, np.ndarray]:
    """Both-strand Markov LLR (nats) of every SNV for each order: ``{k: (N,)}``.

    Args:
        train_regions: intervals the chains are fitted on (both strands).
        window: the scoring window, centred on the variant as for the model.
    """
    from genomamba.training.markov import MarkovModel

    train = [_TOK.encode(genome.fetch(r.contig, r.start, r.end).upper()) for r in train_regions if r.end > r.start]
    if not train:
        raise ConfigError("the Markov baselines have no training sequence outside the benchmark region")
    train += [_TOK.reverse_complement(t) for t in train]
    w = _build_windows(_variants(labels), genome, window)
    lengths = {len(x) for x in w.ref}
    if len(lengths) != 1:
        raise GenomambaError(f"windows of unequal length {sorted(lengths)}: a record is shorter than --window {window}")
    ref, alt = np.stack(w.ref), np.stack(w.alt)  # (N, L)
    ref_rc, alt_rc = _TOK.reverse_complement(ref), _TOK.reverse_complement(alt)
    out = {}
    for k in orders:
        m = MarkovModel.fit(train, int(k), alpha)
        fwd = m.window_log_likelihood(alt) - m.window_log_likelihood(ref)
        rev = m.window_log_likelihood(alt_rc) - m.window_log_likelihood(ref_rc)
        out[int(k)] = (fwd + rev) / 2
    return out


def _contrast(labels: Sequence[dict[str, Any]], cls: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices, y) of the stratified ``cls`` (y=1) and synonymous (y=0) SNVs."""
    idx = [i for i, r in enumerate(labels) if r["sample"] == "stratified" and r["consequence"] in (cls, "synonymous")]
    return np.asarray(idx, dtype=np.int64), np.array([labels[i]["consequence"] == cls for i in idx], dtype=np.int64)


def scorer_metrics(labels: Sequence[dict[str, Any]], score: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Zero-shot AUROCs (damaging class vs synonymous, ranked by ``-score``) and codon-position
    LLR means of one scorer. ``score`` (N,) aligns with ``labels``; NaN = not scored (dropped)."""
    score = np.asarray(score, dtype=np.float64)
    out: dict[str, Any] = {"auroc_vs_synonymous": {}, "mean_llr_by_class": {}, "codon_position": {}}
    for cls in CONTRASTS:
        idx, y = _contrast(labels, cls)
        ok = np.isfinite(score[idx])
        if len(set(y[ok].tolist())) == 2:
            out["auroc_vs_synonymous"][cls] = auroc_ci(y[ok], -score[idx][ok], seed=seed)
    for cls in ("synonymous", *CONTRASTS):
        sel = np.array([r["consequence"] == cls and r["sample"] == "stratified" for r in labels]) & np.isfinite(score)
        if sel.any():
            out["mean_llr_by_class"][cls] = mean_ci(score[sel], seed=seed)
    uni = np.array([r["sample"] == "uniform" for r in labels]) & np.isfinite(score)
    cpos = np.array([int(r["codon_position"]) for r in labels])
    for p in (1, 2, 3):
        out["codon_position"][str(p)] = mean_ci(score[uni & (cpos == p)], seed=seed)
    y3 = (cpos[uni] == 3).astype(np.int64)
    if len(set(y3.tolist())) == 2:
        out["codon_position_auroc"] = auroc_ci(y3, score[uni], seed=seed)  # position 3 should score higher
    return out


def supervised_heads(
    model: Any, genome: GenomeFile, labels: Sequence[dict[str, Any]], window: int = 128, kmer_k: int = 4, cv: int = 5,
    seed: int = 0, contrasts: Sequence[str] = ("nonsense", "missense"), batch_size: int = 64,
) -> dict[str, Any]:
    """Cross-validated logistic heads, per contrast: model embeddings vs k-mer features.

    Both see the same ``window``-bp windows, SNVs and folds. Model features: mean-pooled ALT
    minus REF hidden states (D,). k-mer features: REF-window k-mer frequencies and ALT - REF
    differences (2 * 4**k,). AUROCs of the out-of-fold probabilities with bootstrap CIs and a
    paired bootstrap CI of their difference.
    """
    from genomamba.downstream.kmer import kmer_frequencies
    from genomamba.downstream.variants_supervised import cross_validate_features, embed_variant_windows

    out: dict[str, Any] = {"window": window, "kmer_k": kmer_k, "cv": cv, "classifier": "logistic"}
    for cls in contrasts:
        idx, y = _contrast(labels, cls)
        if min(np.bincount(y, minlength=2)) < cv:
            continue
        sub = [labels[i] for i in idx]
        variants = _variants(sub)
        ref_e, alt_e = embed_variant_windows(model, genome, variants, window, batch_size)
        w = _build_windows(variants, genome, window)
        ref_k, alt_k = kmer_frequencies(np.stack(w.ref), kmer_k), kmer_frequencies(np.stack(w.alt), kmer_k)
        res = {}
        oof = {}
        for name, x in (("model", alt_e - ref_e), ("kmer", np.concatenate([ref_k, alt_k - ref_k], 1))):
            r = cross_validate_features(x.astype(np.float64), y, classifier="logistic", cv=cv, seed=seed)
            oof[name] = np.asarray(r["oof_probability"])
            res[name] = {**auroc_ci(y, oof[name], seed=seed), "auroc_fold_std": r["auroc_fold_std"],
                         "n_features": int(x.shape[1])}
        res["model_minus_kmer"] = paired_auroc_difference(y, oof["model"], oof["kmer"], seed=seed)
        out[f"{cls}_vs_synonymous"] = res
    return out


def _read_scores(path: str | os.PathLike[str], labels: Sequence[dict[str, Any]]) -> np.ndarray:
    """Model scores from a ``genomamba score-variants`` TSV, aligned with ``labels`` by (chrom, pos, ref, alt)."""
    if not Path(path).is_file():
        raise ConfigError(f"--scores {path}: file not found; write it with `genomamba score-variants` on the benchmark VCF")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    missing = {"chrom", "pos", "ref", "alt", "score", "status"} - set(rows[0] if rows else {})
    if missing:
        raise ConfigError(f"--scores {path}: not a score-variants TSV (missing columns {sorted(missing)})")
    by_key = {(r["chrom"], int(r["pos"]), r["ref"], r["alt"]): (float(r["score"]) if r["score"] else math.nan)
              for r in rows if r["status"] == "ok"}
    return np.array([by_key.get((r["chrom"], int(r["pos"]), r["ref"], r["alt"]), math.nan) for r in labels])


def evaluate_gene_benchmark(
    model: Any | None, fasta: str | os.PathLike[str], vcf: str | os.PathLike[str], labels_tsv: str | os.PathLike[str],
    window: int = 512, orders: Sequence[int] = range(2, 9), scores: str | os.PathLike[str] | None = None,
    supervised: bool = True, embed_window: int = 128, kmer_k: int = 4, cv: int = 5, seed: int = 0, batch_size: int = 64,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """All metrics of one benchmark: ``(metrics, {scorer name: (N,) scores})``.

    Args:
        model: a ``GenomambaLM`` (None: baselines only, or with ``scores`` precomputed).
        scores: a ``genomamba score-variants`` TSV to use instead of scoring with ``model``.
    """
    from genomamba.downstream.variants import score_variants

    genome = GenomeFile(fasta)
    labels = read_benchmark_labels(labels_tsv)
    region_specs = read_benchmark_regions(vcf)
    if not region_specs:
        raise ConfigError(f"{vcf}: no '##genomamba_benchmark_region=' header lines; make the VCF with "
                          "`genomamba make-variant-benchmark`")
    regions = parse_regions(region_specs, genome.lengths, source=f"{vcf} region")
    train = complement_regions(regions, genome.lengths)
    all_scores: dict[str, np.ndarray] = {}
    if scores is not None:
        all_scores["model"] = _read_scores(scores, labels)
    elif model is not None:
        rows = score_variants(model, genome, _variants(labels), window=window, batch_size=batch_size)
        all_scores["model"] = np.array([r["score"] for r in rows], dtype=np.float64)
    markov = markov_llr(genome, labels, train, orders, window)
    all_scores.update({f"markov_k{k}": v for k, v in markov.items()})
    metrics: dict[str, Any] = {
        "fasta": str(fasta), "vcf": str(vcf), "benchmark_regions": region_specs,
        "markov_training_bp": int(sum(r.end - r.start for r in train)), "window": window,
        "n_variants": len(labels), "n_scored": {k: int(np.isfinite(v).sum()) for k, v in all_scores.items()},
        "scorers": {k: scorer_metrics(labels, v, seed=seed) for k, v in all_scores.items()},
    }
    if "model" in all_scores and markov:
        comp = {}
        for cls in ("nonsense", "missense"):
            best = max(markov, key=lambda k: metrics["scorers"][f"markov_k{k}"]["auroc_vs_synonymous"].get(cls, {}).get("auroc", 0))
            idx, y = _contrast(labels, cls)
            ok = np.isfinite(all_scores["model"][idx])
            if len(set(y[ok].tolist())) == 2:
                d = paired_auroc_difference(y[ok], -all_scores["model"][idx][ok], -markov[best][idx][ok], seed=seed)
                comp[f"{cls}_vs_synonymous"] = {"best_markov_order": best, **d}
        metrics["model_minus_best_markov"] = comp
    if supervised and model is not None:
        metrics["supervised"] = supervised_heads(model, genome, labels, embed_window, kmer_k, cv, seed, batch_size=batch_size)
    return metrics, all_scores


def plot_benchmark(metrics: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Two panels: mean LLR at codon positions 1-3 and the zero-shot AUROCs, each scorer with 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(metrics["scorers"])
    baselines = [n for n in names if n != "model"]
    colour = {n: "black" if n == "model" else f"C{baselines.index(n)}" for n in names}  # same colour in both panels
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        m = metrics["scorers"][name]
        x = np.arange(3) + (i - (len(names) - 1) / 2) * width
        cp = [m["codon_position"][str(p)] for p in (1, 2, 3)]
        mean = np.array([c["mean"] for c in cp])
        err = np.array([[c["mean"] - c["ci"][0] for c in cp], [c["ci"][1] - c["mean"] for c in cp]])
        label = name.replace("markov_k", "Markov k=")
        ax1.bar(x, mean, width, yerr=err, capsize=2, color=colour[name], alpha=1.0 if name == "model" else 0.75, label=label)
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


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
        cells = [format_ci(m["codon_position"][p]["mean"], m["codon_position"][p]["ci"]) if m["codon_position"][p]["n"]
                 else "-" for p in ("1", "2", "3")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    comp = metrics.get("model_minus_best_markov")
    if comp:
        lines += ["", "## Model minus the best Markov order (paired bootstrap)", "",
                  "The best order is picked on these same SNVs, which favours the baseline.", "",
                  "| contrast | best order | AUROC model | AUROC Markov | difference [95% CI] |", "|---|---|---|---|---|"]
        for c, d in comp.items():
            lines.append(f"| {c} | {d['best_markov_order']} | {d['auroc_a']:.3f} | {d['auroc_b']:.3f} | "
                         f"{format_ci(d['difference'], d['ci'])} |")
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
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def _write_scores(labels: Sequence[dict[str, Any]], scores: dict[str, np.ndarray], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        wr = csv.writer(fh, delimiter="\t", lineterminator="\n")
        wr.writerow(["id", "chrom", "pos", "ref", "alt", "consequence", "sample", "codon_position", *scores])
        for i, r in enumerate(labels):
            wr.writerow([r["id"], r["chrom"], r["pos"], r["ref"], r["alt"], r["consequence"], r["sample"],
                         r["codon_position"], *(f"{v[i]:.6g}" for v in scores.values())])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genomamba variant-benchmark",
        description="Metrics of a gene-based SNV benchmark (genomamba make-variant-benchmark): zero-shot AUROCs and "
                    "codon-position LLRs with 95%% CIs, Markov baselines, supervised model vs k-mer heads.",
    )
    p.add_argument("--model", default=None, help="save_pretrained directory, run directory or .ckpt (omit: baselines only)")
    p.add_argument("--fasta", required=True, help="the genome the benchmark was made from")
    p.add_argument("--benchmark", default=None,
                   help="PREFIX given to make-variant-benchmark (reads PREFIX.vcf and PREFIX.labels.tsv)")
    p.add_argument("--vcf", default=None, help="the benchmark VCF (instead of --benchmark; with --labels)")
    p.add_argument("--labels", default=None, help="the benchmark labels TSV (instead of --benchmark; with --vcf)")
    p.add_argument("--out-dir", required=True, help="writes metrics.json, scores.tsv, benchmark.png and report.md")
    p.add_argument("--scores", default=None, help="use this `genomamba score-variants` TSV instead of scoring again")
    p.add_argument("--window", type=int, default=512, help="zero-shot window in bp (default 512, as score-variants)")
    p.add_argument("--orders", type=int, nargs="+", default=list(range(2, 9)), help="Markov orders (default 2..8)")
    p.add_argument("--no-supervised", action="store_true", help="skip the cross-validated supervised heads")
    p.add_argument("--embed-window", type=int, default=128, help="window of the supervised heads (default 128)")
    p.add_argument("--kmer-k", type=int, default=4, help="k of the k-mer head (default 4)")
    p.add_argument("--cv", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    return p


def variant_benchmark_main(argv: Sequence[str] | None = None) -> int:
    """``genomamba variant-benchmark``; raises GenomambaError on bad input (the CLI exits 2)."""
    a = _parser().parse_args(argv)
    if (a.benchmark is None) == (a.vcf is None or a.labels is None) or (a.benchmark and (a.vcf or a.labels)):
        raise ConfigError("give either --benchmark PREFIX or both --vcf and --labels")
    vcf, tsv = (Path(f"{a.benchmark}.vcf"), Path(f"{a.benchmark}.labels.tsv")) if a.benchmark else (Path(a.vcf), Path(a.labels))
    for f in (vcf, tsv):
        if not f.is_file():
            raise ConfigError(f"{f} not found; make the benchmark with `genomamba make-variant-benchmark`")
    model = None
    if a.model is not None:
        import torch

        from genomamba.models import GenomambaLM

        model = GenomambaLM.load(a.model)
        model = model.to(a.device or ("cuda" if torch.cuda.is_available() else "cpu")).eval()
    metrics, scores = evaluate_gene_benchmark(
        model, a.fasta, vcf, tsv, window=a.window, orders=a.orders, scores=a.scores, supervised=not a.no_supervised,
        embed_window=a.embed_window, kmer_k=a.kmer_k, cv=a.cv, seed=a.seed, batch_size=a.batch_size,
    )
    metrics["model"] = a.model
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _write_scores(read_benchmark_labels(tsv), scores, out / "scores.tsv")
    plot_benchmark(metrics, out / "benchmark.png")
    write_report(metrics, out / "report.md", plot="benchmark.png")
    for name, m in metrics["scorers"].items():
        a_ = m["auroc_vs_synonymous"]
        parts = [f"{c} {format_ci(a_[c]['auroc'], a_[c]['ci'])}" for c in ("nonsense", "missense") if c in a_]
        cp = " / ".join(f"{m['codon_position'][p]['mean']:.3f}" for p in ("1", "2", "3"))
        print(f"{name}: AUROC vs synonymous: {'; '.join(parts)}; mean LLR at codon pos 1/2/3: {cp}", file=sys.stderr)
    print(f"wrote {out}/metrics.json, scores.tsv, benchmark.png, report.md", file=sys.stderr)
    return 0
