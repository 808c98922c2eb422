"""Metrics of the gene-based SNV benchmark (:mod:`genomamba.downstream.genes.benchmark`).

For the model and, side by side, order-k Markov baselines (k = 2..8 by default):

* **zero-shot AUROC** of each damaging class against synonymous SNVs (``stratified`` sample):
  nonsense vs synonymous and missense vs synonymous are the headline; start_lost, stop_lost
  and intergenic vs synonymous are reported too. A damaging ALT should score *lower*, so the
  AUROC ranks by ``-score``; 95% stratified-bootstrap CIs (:mod:`genomamba.downstream.stats`).
* **codon position** (``uniform`` sample of interior coding SNVs): the mean LLR at codon
  positions 1, 2 and 3 with bootstrap CIs, and the AUROC of "position 3 scores higher than
  positions 1 and 2" (0.5 = the scorer does not see the reading frame).
* **within substitution type**: the nonsense and missense AUROCs among transitions only and
  among transversions only, where the substitution-type rule below is blind, and both pooled
  (``auroc_within_substitution``: only pairs of the same substitution type are compared, so
  the rule scores exactly 0.5; :func:`~genomamba.downstream.stats.stratified_auroc_ci`);
* **paired differences**: model minus the best Markov order (best on these same SNVs, which
  favours the baseline) and minus the substitution-type rule, paired bootstrap CI; for each
  contrast also the pooled within-substitution-type AUROC minus the best Markov order's. The
  shift and the influence are also paired with the model's own LLR.
* **supervised heads**, cross-validated on the same SNVs with the same folds: a logistic
  regression on the model's ALT - REF window embeddings, beside one on k-mer features of the
  same windows (REF k-mer frequencies and ALT - REF differences).

Frame-aware reference (``codon_usage``): a scorer that is *given* the reading frame. It knows
the Prodigal gene calls and the genome's codon usage, and nothing else (no sequence context,
no protein): ``log f(ALT codon) - log f(REF codon)`` in nats, with codon frequencies ``f``
counted over the complete genes that lie entirely in the training split (add-0.5 smoothing).
It scores coding SNVs only. It marks what knowing the frame alone can buy: a language model
that must beat it on missense vs synonymous needs to know which amino acid a protein wants.

Related-species reference (``relative_species``, with ``relative=``): a conservation score from
one genome of a related species, given as a FASTA. Each benchmark gene is aligned to its best
homolog there, through the protein, and an SNV scores ``[relative base == ALT] - [relative base
== REF]`` at the aligned base (:mod:`genomamba.downstream.genes.homologs`). It marks what aligned
related genomes tell, the information alignment-based models such as GPN-MSA read.

Substitution-type rule (``transversion_rule``): ``-1`` for a transversion (purine <-> pyrimidine),
``0`` for a transition, nothing else. At third codon positions transitions are mostly synonymous
and transversions often are not, so this rule alone ranks missense below synonymous SNVs with an
AUROC near 0.58 on the bundled benchmarks. A missense score that does not beat it has learned
nothing beyond the substitution type.

Model scores: ``model`` is the zero-shot LLR (or the masked score) of
:func:`~genomamba.downstream.variants.scoring.score_variants`; ``model_shift`` and ``model_influence``
are minus its hidden-state ``shift`` and its ``influence`` (so that, as for every scorer, lower =
more damaging).

Markov LLR: each order is fitted on both strands of every base *outside* the benchmark region
(the regions recorded in the VCF header: the training split) and scores the same windows as the
model, both strands averaged, in nats: ``LL(alt window) - LL(ref window)``.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genomamba.api import ModelLike, as_lm
from genomamba.data.fasta import GenomeFile
from genomamba.data.provenance import check_held_out
from genomamba.data.tokenizer import DNATokenizer
from genomamba.data.tracks import open_track
from genomamba.downstream.genes.benchmark import (
    complement_regions,
    parse_regions,
    read_benchmark_labels,
    read_benchmark_regions,
)
from genomamba.downstream.genes.consequences import call_genes, codon_code, codon_counts, encode_bases
from genomamba.downstream.genes.homologs import check_nucleotide_genome, relative_species_llr
from genomamba.downstream.stats import (
    auroc_ci,
    mean_ci,
    paired_auroc_difference,
    paired_stratified_auroc_difference,
    stratified_auroc_ci,
)
from genomamba.downstream.variants.scoring import resolve_method, score_variants
from genomamba.downstream.variants.supervised import cross_validate_features, embed_variant_windows
from genomamba.downstream.variants.vcf import Variant
from genomamba.downstream.variants.windows import build_variant_windows
from genomamba.errors import ConfigError, GenomambaError
from genomamba.progress import progress as progress_bar

__all__ = [
    "CONTRASTS",
    "codon_usage_llr",
    "contrast_indices",
    "evaluate_gene_benchmark",
    "markov_llr",
    "scorer_metrics",
    "supervised_heads",
    "transversion_rule",
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
    w = build_variant_windows(_variants(labels), genome, window)
    lengths = {len(x) for x in w.ref}
    if len(lengths) != 1:
        raise GenomambaError(f"windows of unequal length {sorted(lengths)}: a record is shorter than --window {window}")
    ref, alt = np.stack(w.ref), np.stack(w.alt)  # (N, L)
    ref_rc, alt_rc = _TOK.reverse_complement(ref), _TOK.reverse_complement(alt)
    out = {}
    with progress_bar(len(orders), "Markov baselines", "orders") as advance:
        for k in orders:
            m = MarkovModel.fit(train, int(k), alpha)
            fwd = m.window_log_likelihood(alt) - m.window_log_likelihood(ref)
            rev = m.window_log_likelihood(alt_rc) - m.window_log_likelihood(ref_rc)
            out[int(k)] = (fwd + rev) / 2
            advance(1)
    return out


def codon_usage_llr(
    genome: GenomeFile, labels: Sequence[dict[str, Any]], train_regions: Sequence[Any], alpha: float = 0.5,
    genes: Sequence[Any] | None = None,
) -> tuple[np.ndarray, int]:
    """The frame-aware reference score of every SNV (see the module docstring).

    Genes are called on the whole genome, as for the benchmark (or given as ``genes``, those
    calls); only complete genes lying entirely inside one of ``train_regions`` are counted.

    Returns:
        (scores (N,) in nats, NaN for SNVs without a codon (intergenic); number of genes counted).
    """
    seqs = {c: genome.fetch(c, 0, n).upper() for c, n in genome.lengths.items()}
    genes = call_genes(genome, seqs) if genes is None else genes
    inside = [g for g in genes if not g.partial
              and any(r.contig == g.chrom and r.start <= g.start and g.end <= r.end for r in train_regions)]
    counts = codon_counts(inside, {c: encode_bases(s) for c, s in seqs.items()})
    log_f = np.log((counts + alpha) / (counts + alpha).sum())
    out = np.full(len(labels), math.nan)
    for i, r in enumerate(labels):
        if r.get("ref_codon", ".") not in (".", "") and r.get("alt_codon", ".") not in (".", ""):
            out[i] = log_f[codon_code(r["alt_codon"])] - log_f[codon_code(r["ref_codon"])]
    return out, len(inside)


def transversion_rule(labels: Sequence[dict[str, Any]]) -> np.ndarray:
    """``-1.0`` for transversions, ``0.0`` for transitions (the substitution-type rule): ``(N,)``."""
    purines = {"A", "G"}
    return np.array([-1.0 if (r["ref"] in purines) != (r["alt"] in purines) else 0.0 for r in labels])


def substitution_type(is_transversion: np.ndarray) -> np.ndarray:
    """``"transversion"`` / ``"transition"`` per SNV from a boolean ``(N,)`` array (the strata of
    the within-substitution-type AUROC)."""
    return np.where(np.asarray(is_transversion, dtype=bool), "transversion", "transition")


def contrast_indices(labels: Sequence[dict[str, Any]], cls: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices, y) of the stratified ``cls`` (y=1) and synonymous (y=0) SNVs."""
    idx = [i for i, r in enumerate(labels) if r["sample"] == "stratified" and r["consequence"] in (cls, "synonymous")]
    return np.asarray(idx, dtype=np.int64), np.array([labels[i]["consequence"] == cls for i in idx], dtype=np.int64)


def codon_position_indices(labels: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(indices, y) of the uniformly drawn in-gene SNVs, y=1 at codon position 3, 0 at 1 and 2: a
    scorer that knows the reading frame ranks position 3 (mostly synonymous) above the others."""
    idx = [i for i, r in enumerate(labels) if r["sample"] == "uniform" and str(r["codon_position"]) in ("1", "2", "3")]
    return np.asarray(idx, dtype=np.int64), np.array([str(labels[i]["codon_position"]) == "3" for i in idx], dtype=np.int64)


def scorer_metrics(labels: Sequence[dict[str, Any]], score: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Zero-shot AUROCs (damaging class vs synonymous, ranked by ``-score``) and codon-position
    LLR means of one scorer. ``score`` (N,) aligns with ``labels``; NaN = not scored (dropped)."""
    score = np.asarray(score, dtype=np.float64)
    out: dict[str, Any] = {"auroc_vs_synonymous": {}, "mean_llr_by_class": {}, "codon_position": {}}
    for cls in CONTRASTS:
        idx, y = contrast_indices(labels, cls)
        ok = np.isfinite(score[idx])
        if len(set(y[ok].tolist())) == 2:
            out["auroc_vs_synonymous"][cls] = auroc_ci(y[ok], -score[idx][ok], seed=seed)
    # Within one substitution type the transversion rule is blind: what a scorer separates there
    # is more than substitution type.
    is_tv = transversion_rule(labels) < 0
    out["auroc_by_substitution"] = {}
    for cls in ("nonsense", "missense"):
        idx, y = contrast_indices(labels, cls)
        for kind, want in (("transitions", False), ("transversions", True)):
            ok = np.isfinite(score[idx]) & (is_tv[idx] == want)
            if len(set(y[ok].tolist())) == 2:
                out["auroc_by_substitution"].setdefault(cls, {})[kind] = auroc_ci(y[ok], -score[idx][ok], seed=seed)
        ok = np.isfinite(score[idx])
        if len(set(y[ok].tolist())) == 2:
            out.setdefault("auroc_within_substitution", {})[cls] = stratified_auroc_ci(
                y[ok], -score[idx][ok], substitution_type(is_tv[idx][ok]), seed=seed)
    for cls in ("synonymous", *CONTRASTS):
        sel = np.array([r["consequence"] == cls and r["sample"] == "stratified" for r in labels]) & np.isfinite(score)
        if sel.any():
            out["mean_llr_by_class"][cls] = mean_ci(score[sel], seed=seed)
    idx, y3 = codon_position_indices(labels)
    ok = np.isfinite(score[idx])
    idx, y3 = idx[ok], y3[ok]
    cpos = np.array([int(labels[i]["codon_position"]) for i in idx], dtype=np.int64)
    for p in (1, 2, 3):
        out["codon_position"][str(p)] = mean_ci(score[idx][cpos == p], seed=seed)
    if len(set(y3.tolist())) == 2:
        out["codon_position_auroc"] = auroc_ci(y3, score[idx], seed=seed)  # position 3 should score higher
    return out


def supervised_heads(
    model: ModelLike, genome: GenomeFile, labels: Sequence[dict[str, Any]], window: int = 128, kmer_k: int = 4, cv: int = 5,
    seed: int = 0, contrasts: Sequence[str] = ("nonsense", "missense"), batch_size: int = 64,
) -> dict[str, Any]:
    """Cross-validated logistic heads, per contrast: model embeddings vs k-mer features.

    Both see the same ``window``-bp windows, SNVs and folds. Model features: mean-pooled ALT
    minus REF hidden states (D,). k-mer features: REF-window k-mer frequencies and ALT - REF
    differences (2 * 4**k,). AUROCs of the out-of-fold probabilities with bootstrap CIs and a
    paired bootstrap CI of their difference.
    """
    model = as_lm(model)
    from genomamba.downstream.kmer import kmer_frequencies

    out: dict[str, Any] = {"window": window, "kmer_k": kmer_k, "cv": cv, "classifier": "logistic"}
    for cls in contrasts:
        idx, y = contrast_indices(labels, cls)
        if min(np.bincount(y, minlength=2)) < cv:
            continue
        sub = [labels[i] for i in idx]
        variants = _variants(sub)
        ref_e, alt_e = embed_variant_windows(model, genome, variants, window, batch_size)
        w = build_variant_windows(variants, genome, window)
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


def _read_scores(
    path: str | os.PathLike[str], labels: Sequence[dict[str, Any]], columns: Sequence[str] = ("score",),
    source: str | os.PathLike[str] = "VCF",
) -> dict[str, np.ndarray]:
    """Model scores from a ``genomamba score-variants`` TSV, one ``(N,)`` array per name in
    ``columns``, aligned with ``labels`` by (chrom, pos, ref, alt); all NaN for an optional
    column that an older TSV lacks, such as ``shift``, and for variants the TSV marks unscored.

    Raises:
        ConfigError: the TSV lacks some of the benchmark's variants (``source``, its VCF): it
            scored another VCF.
    """
    if not Path(path).is_file():
        raise ConfigError(f"--scores {path}: file not found; write it with `genomamba score-variants` on the benchmark VCF")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    missing = {"chrom", "pos", "ref", "alt", "score", "status"} - set(rows[0] if rows else {})
    if missing:
        raise ConfigError(f"--scores {path}: not a score-variants TSV (missing columns {sorted(missing)})")
    try:
        listed = {(r["chrom"], int(r["pos"]), r["ref"], r["alt"]): r for r in rows}
    except (TypeError, ValueError):
        raise ConfigError(f"--scores {path}: a pos that is not an integer; not a score-variants TSV") from None
    absent = [r for r in labels if (r["chrom"], int(r["pos"]), r["ref"], r["alt"]) not in listed]
    if absent:
        r = absent[0]
        raise ConfigError(
            f"--scores {path} does not match the benchmark {source}: {len(absent)} of its {len(labels)} variants are not "
            f"in it (e.g. {r['chrom']}:{r['pos']} {r['ref']}>{r['alt']}); it was scored on another VCF. Score the "
            f"benchmark's own VCF (genomamba score-variants --vcf {source}), or drop --scores"
        )
    found = [listed[(r["chrom"], int(r["pos"]), r["ref"], r["alt"])] for r in labels]
    found = [r if r["status"] == "ok" else {} for r in found]  # a variant score-variants could not score stays NaN
    return {column: np.array([float(r[column]) if r.get(column) else math.nan for r in found]) for column in columns}


def evaluate_gene_benchmark(
    model: ModelLike | None, fasta: str | os.PathLike[str], vcf: str | os.PathLike[str], labels_tsv: str | os.PathLike[str],
    window: int = 512, orders: Sequence[int] = range(2, 9), scores: str | os.PathLike[str] | None = None,
    supervised: bool = True, embed_window: int = 128, kmer_k: int = 4, cv: int = 5, seed: int = 0, batch_size: int = 64,
    codon_usage: bool = True, allow_seen: bool = False, relative: str | os.PathLike[str] | None = None,
    track: str | os.PathLike[str] | None = None, method: str = "auto",
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """All metrics of one benchmark: ``(metrics, {scorer name: (N,) scores})``.

    Args:
        model: a ``GenomambaModel`` or ``GenomambaLM`` (None: baselines only, or with ``scores`` precomputed).
        scores: a ``genomamba score-variants`` TSV to use instead of scoring with ``model``.
        codon_usage: add the frame-aware ``codon_usage`` reference scorer (module docstring).
        relative: a FASTA of a related species: add the ``relative_species`` reference scorer
            (:mod:`genomamba.downstream.genes.homologs`).
        track: the genome's relative track, for a relative-track model (required by it and only
            by it; :func:`~genomamba.data.tracks.open_track`). The supervised heads embed without it.
        method: the zero-shot scoring method of
            :func:`~genomamba.downstream.variants.scoring.score_variants` (``window`` reproduces
            numbers made before the tiled method).
        allow_seen: score the model even when its training-data record says it was trained on
            the benchmark region (by default that is a ``ConfigError``; see
            :func:`~genomamba.data.provenance.check_held_out`). ``metrics["pretraining_overlap"]``
            says how many benchmark bases it saw.
    """
    model = None if model is None else as_lm(model)
    genome = GenomeFile(fasta)
    labels = read_benchmark_labels(labels_tsv)
    region_specs = read_benchmark_regions(vcf)
    if not region_specs:
        raise ConfigError(f"{vcf}: no '##genomamba_benchmark_region=' header lines; make the VCF with "
                          "`genomamba make-variant-benchmark`")
    regions = parse_regions(region_specs, genome.lengths, source=f"{vcf} region")
    other = None
    if relative is not None:  # checked before the work, not after it
        if Path(relative).resolve() == Path(fasta).resolve():
            raise ConfigError(f"--relative {relative} is the benchmark's own genome; give a genome of a related species")
        other = GenomeFile(relative)
        check_nucleotide_genome(other, "--relative")
    track_file = None
    if track is not None and (model is None or scores is not None):
        raise ConfigError(f"--track {track} is read by the model as it scores: give --model and no --scores")
    if model is not None and scores is None:
        model.config.check_track_input(track, "the model")
        track_file = None if track is None else open_track(track, genome, option="--track")
    train = complement_regions(regions, genome.lengths)
    if not any(r.end > r.start for r in train):
        raise ConfigError(
            f"{vcf}: the benchmark covers the whole genome, so nothing is left to fit the Markov baselines on (nor held "
            f"out from a model trained on {genome.path.name}); make it on held-out sequence: genomamba "
            "make-variant-benchmark --last-fraction 0.05 (the default), or --region CHROM:START-END"
        )
    overlap = check_held_out(
        model, [(genome, regions)], f"variant benchmark {vcf}",
        "make the benchmark on a region it never saw (genomamba make-variant-benchmark --region), or on a genome it "
        "never saw", allow_seen=allow_seen,
    )
    all_scores: dict[str, np.ndarray] = {}
    columns: dict[str, np.ndarray] = {}  # score-variants columns, aligned with labels
    if scores is not None:
        columns = _read_scores(scores, labels, columns=("score", "shift", "influence"), source=vcf)
    elif model is not None:
        rows = score_variants(model, genome, _variants(labels), window=window, batch_size=batch_size, track=track_file,
                              method=method)
        columns = {c: np.array([r[c] for r in rows], dtype=np.float64) for c in ("score", "shift", "influence")}
    if columns:
        all_scores["model"] = columns["score"]
        for column in ("shift", "influence"):
            # all NaN: an older TSV without the column, or a masked model (no influence)
            if np.isfinite(columns[column]).any():
                all_scores[f"model_{column}"] = -columns[column]
    markov = markov_llr(genome, labels, train, orders, window)
    all_scores.update({f"markov_k{k}": v for k, v in markov.items()})
    all_scores["transversion_rule"] = transversion_rule(labels)
    n_codon_genes = 0
    genes = call_genes(genome) if codon_usage or relative is not None else None
    if codon_usage:
        codon_scores, n_codon_genes = codon_usage_llr(genome, labels, train, genes=genes)
        if n_codon_genes and np.isfinite(codon_scores).any():
            all_scores["codon_usage"] = codon_scores
    homologs = None
    if other is not None:
        all_scores["relative_species"], counts = relative_species_llr(genome, labels, other, genes=genes)
        if not counts["snvs_with_aligned_base"]:
            raise ConfigError(
                f"--relative {relative}: none of the {counts['genes']} benchmark genes of {genome.path.name} has a homolog "
                "in it, so the relative_species reference would score nothing; give a genome of a related species, or "
                "drop --relative"
            )
        homologs = {"fasta": str(relative), **counts}
    metrics: dict[str, Any] = {
        "fasta": str(fasta), "vcf": str(vcf), "benchmark_regions": region_specs,
        "markov_training_bp": int(sum(r.end - r.start for r in train)), "window": window,
        "method": None if model is None or scores is not None else resolve_method(model, method),
        "codon_usage_training_genes": n_codon_genes, "relative_species": homologs, "pretraining_overlap": overlap,
        "track": None if track_file is None else str(track),
        "n_variants": len(labels), "n_scored": {k: int(np.isfinite(v).sum()) for k, v in all_scores.items()},
        "scorers": {k: scorer_metrics(labels, v, seed=seed) for k, v in all_scores.items()},
    }
    # Each model score against the best Markov order (best on these same SNVs, which favours the
    # baseline) and the substitution-type rule, paired on the same SNVs.
    paired: dict[str, Any] = {}
    is_tv = all_scores["transversion_rule"] < 0
    for cls in ("nonsense", "missense"):
        idx, y = contrast_indices(labels, cls)
        rivals = {"transversion_rule": all_scores["transversion_rule"]}
        if "relative_species" in all_scores:  # what a relative-track model must beat: the track's own reading
            rivals["relative_species"] = all_scores["relative_species"]
        if markov:
            best = max(markov, key=lambda k: metrics["scorers"][f"markov_k{k}"]["auroc_vs_synonymous"].get(cls, {}).get("auroc", 0))
            rivals[f"markov_k{best}"] = markov[best]
            # Beyond substitution type: pairs of the same type only (the rule is 0.5 there by
            # construction), against the Markov order that is best on that statistic.
            best_within = max(markov, key=lambda k: metrics["scorers"][f"markov_k{k}"].get(
                "auroc_within_substitution", {}).get(cls, {}).get("auroc", 0))
        for name in ("model", "model_shift", "model_influence"):
            ok = np.isfinite(all_scores[name][idx]) if name in all_scores else np.zeros(len(idx), bool)
            if len(set(y[ok].tolist())) < 2:
                continue
            # the shift and the influence are also compared with the model's own LLR
            own = {"model": all_scores["model"]} if name != "model" and np.isfinite(all_scores["model"][idx][ok]).all() else {}
            for rival, score in (rivals | own).items():
                d = paired_auroc_difference(y[ok], -all_scores[name][idx][ok], -score[idx][ok], seed=seed)
                paired[f"{name}_minus_{rival}/{cls}_vs_synonymous"] = {
                    "scorer": name, "baseline": rival, "contrast": cls, "statistic": "auroc", **d}
                if name == "model" and rival.startswith("markov_k"):  # the long-standing headline comparison
                    metrics.setdefault("model_minus_best_markov", {})[f"{cls}_vs_synonymous"] = {"best_markov_order": best, **d}
            within_rivals = {f"markov_k{best_within}": markov[best_within]} if markov else {}
            if "relative_species" in all_scores:
                within_rivals["relative_species"] = all_scores["relative_species"]
            for rival, score in within_rivals.items():
                d = paired_stratified_auroc_difference(
                    y[ok], -all_scores[name][idx][ok], -score[idx][ok], substitution_type(is_tv[idx][ok]), seed=seed)
                paired[f"{name}_minus_{rival}/{cls}_within_substitution"] = {
                    "scorer": name, "baseline": rival, "contrast": cls, "statistic": "auroc_within_substitution", **d}
    metrics["paired_differences"] = paired
    if supervised and model is not None:
        metrics["supervised"] = supervised_heads(model, genome, labels, embed_window, kmer_k, cv, seed, batch_size=batch_size)
        if track_file is not None:
            metrics["supervised"]["track"] = "not read: the model's embeddings are of an all-N track"
    return metrics, all_scores
