"""Metrics of the gene-based benchmark, the Markov LLR and the CI helpers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import binomtest
from sklearn.metrics import average_precision_score, roc_auc_score

from genomamba.apps.cli import main as cli_main
from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import Interval
from genomamba.data.provenance import describe_training_data
from genomamba.downstream.stats import (
    _average_precision_matrix,
    auprc_ci,
    auroc_ci,
    compare_accuracy,
    format_ci,
    mean_ci,
    paired_auroc_difference,
    paired_ratio_difference,
    paired_stratified_auroc_difference,
    ratio_ci,
    stratified_auroc_ci,
    wilson_ci,
)
from genomamba.errors import GenomambaError
from genomamba.models import GenomambaConfig, GenomambaLM
from genomamba.training.markov import MarkovModel

REPO = Path(__file__).resolve().parents[2]
ECOLI = REPO / "data" / "genomes" / "escherichia_coli_536.fa.gz"


def test_auroc_ci_matches_sklearn_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(60, int), np.zeros(90, int)]
    s = rng.normal(size=150) + 0.8 * y
    s[:5] = s[100:105]  # ties across classes count one half
    r = auroc_ci(y, s, seed=1)
    assert r["auroc"] == pytest.approx(roc_auc_score(y, s))
    assert r["ci"][0] < r["auroc"] < r["ci"][1] and r["ci"][1] - r["ci"][0] < 0.25
    assert auroc_ci(y, s, seed=1) == r  # seeded


def test_average_precision_matches_sklearn_with_ties_on_every_bootstrap_row():
    """The vectorised average precision is scikit-learn's, ties included (a tie group is one
    threshold), row by row; and auprc_ci brackets its estimate."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        n_pos, n_neg, levels = (int(v) for v in rng.integers([1, 1, 2], [25, 25, 6]))
        pos = rng.integers(0, levels, (4, n_pos)).astype(float)  # few distinct values: many ties
        neg = rng.integers(0, levels, (4, n_neg)) - 0.5 * rng.integers(0, 2, (4, n_neg))
        y = np.r_[np.ones(n_pos), np.zeros(n_neg)]
        want = [average_precision_score(y, np.r_[p, n]) for p, n in zip(pos, neg, strict=True)]
        np.testing.assert_allclose(_average_precision_matrix(pos, neg), want, rtol=0, atol=1e-12)
    y = np.r_[np.ones(60, int), np.zeros(90, int)]
    s = rng.normal(size=150) + 0.8 * y
    r = auprc_ci(y, s, seed=1)
    assert r["auprc"] == pytest.approx(average_precision_score(y, s)) and r["chance"] == 0.4
    assert r["ci"][0] < r["auprc"] < r["ci"][1] and auprc_ci(y, s, seed=1) == r


def test_paired_difference_and_accuracy_comparison():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(50, int), np.zeros(50, int)]
    s = rng.normal(size=100) + y
    same = paired_auroc_difference(y, s, s)
    assert same["difference"] == 0 and same["ci"] == [0.0, 0.0]
    d = paired_auroc_difference(y, s, -s)
    assert d["difference"] == pytest.approx(2 * roc_auc_score(y, s) - 1) and d["ci"][0] > 0
    truth = np.zeros(200, int)
    a = truth.copy()
    b = truth.copy()
    a[:10] = 1  # a wrong on 10 items, b wrong on 30 others
    b[10:40] = 1
    c = compare_accuracy(truth, a, b)
    assert c["accuracy_a"] == 0.95 and c["accuracy_b"] == 0.85 and c["discordant"] == [30, 10]
    assert c["mcnemar_p"] == pytest.approx(binomtest(30, 40, 0.5).pvalue)
    assert c["difference_ci"][0] < 0.10 < c["difference_ci"][1]
    lo, hi = wilson_ci(int(0.95 * 200), 200)
    assert (lo, hi) == tuple(c["ci_a"]) and lo < 0.95 < hi
    m = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert m["mean"] == 2.5 and 1.0 <= m["ci"][0] < 2.5 < m["ci"][1] <= 4.0


def test_stratified_auroc_counts_only_pairs_within_a_stratum():
    """Hand count: pooled concordance over same-stratum pairs; a score that knows only the
    stratum is exactly 0.5, although its plain AUROC is far from it."""
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0])
    strata = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    s = np.array([3.0, 1.0, 2.0, 0.0, 5.0, 5.0, 4.0, 6.0])
    # stratum a: positives {3, 1} vs negatives {2, 0}: 3 of 4 pairs concordant;
    # stratum b: positive {5} vs negatives {5, 4, 6}: 0.5 + 1 + 0 = 1.5 of 3; total 4.5 / 7.
    r = stratified_auroc_ci(y, s, strata, seed=2)
    assert r["auroc"] == pytest.approx(4.5 / 7) and r["n_pairs"] == 7 and r["n_pos"] == 3 and r["n_neg"] == 5
    assert r["strata"] == {"a": {"auroc": 0.75, "n_pos": 2, "n_neg": 2}, "b": {"auroc": 0.5, "n_pos": 1, "n_neg": 3}}
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    kind = np.where(rng.random(400) < np.where(y == 1, 0.8, 0.3), "tv", "ts")  # the stratum predicts the class
    rule = (kind == "tv").astype(float)
    assert roc_auc_score(y, rule) > 0.7
    only_kind = stratified_auroc_ci(y, rule, kind)
    assert only_kind["auroc"] == 0.5 and only_kind["ci"] == [0.5, 0.5]
    s = rng.normal(size=400) + 0.7 * y
    r = stratified_auroc_ci(y, s, kind, seed=1)
    n = {k: (np.sum((kind == k) & (y == 1)) * np.sum((kind == k) & (y == 0))) for k in ("ts", "tv")}
    want = sum(roc_auc_score(y[kind == k], s[kind == k]) * n[k] for k in n) / sum(n.values())
    assert r["auroc"] == pytest.approx(want) and r["ci"][0] < r["auroc"] < r["ci"][1]
    d = paired_stratified_auroc_difference(y, s, rule, kind, seed=1)
    assert d["auroc_b"] == 0.5 and d["difference"] == pytest.approx(r["auroc"] - 0.5) and d["ci"][0] > 0
    assert paired_stratified_auroc_difference(y, s, s, kind)["ci"] == [0.0, 0.0]
    with pytest.raises(GenomambaError, match="stratum that holds both classes"):
        stratified_auroc_ci([1, 0], [0.3, 0.1], ["a", "b"])


def test_ratio_ci_is_pooled_bits_per_base_and_pairs_by_window():
    rng = np.random.default_rng(0)
    pos = rng.integers(500, 1000, 80).astype(float)  # scored positions per window
    bits = pos * rng.normal(1.9, 0.05, 80)
    r = ratio_ci(bits, pos)
    assert r["value"] == pytest.approx(bits.sum() / pos.sum()) and r["n"] == 80  # pooled, not a mean of ratios
    assert r["ci"][0] < r["value"] < r["ci"][1] < r["value"] + 0.05
    # A model 0.01 bits/base better on every window: the paired CI excludes 0 although the
    # unpaired CIs overlap (the windows' own spread is 5x the difference).
    better = bits - 0.01 * pos
    d = paired_ratio_difference(better, pos, bits, pos)
    assert d["difference"] == pytest.approx(-0.01) and d["ci"][1] < 0
    assert ratio_ci(better, pos)["ci"][1] > r["ci"][0]
    assert paired_ratio_difference(bits, pos, bits, pos) == {"difference": 0.0, "ci": [0.0, 0.0]}
    with pytest.raises(ValueError, match="paired items"):
        paired_ratio_difference(bits, pos, bits[:-1], pos[:-1])


def test_markov_window_log_likelihood_matches_bits_per_base():
    rng = np.random.default_rng(0)
    train = [rng.integers(0, 4, 5000)]
    m = MarkovModel.fit(train, 3)
    seq = rng.integers(0, 4, 300)
    seq[100] = 4  # an N: its (k+1)-mers are skipped by both
    bits, _ = m.score(seq)
    assert m.window_log_likelihood(seq[None])[0] == pytest.approx(-bits * math.log(2))


@pytest.fixture(scope="module")
def small_benchmark(tmp_path_factory) -> tuple[Path, Path]:
    """A 60 kb slice of E. coli 536 and a small benchmark on its last third."""
    d = tmp_path_factory.mktemp("gbm")
    g = GenomeFile(ECOLI)
    seq = g.fetch(next(iter(g.lengths)), 4_700_000, 4_760_000)
    fasta = d / "slice.fa"
    fasta.write_text(">slice\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    rc = cli_main(["make-variant-benchmark", "--fasta", str(fasta), "--out-prefix", str(d / "bench"), "--region",
                   "slice:40001-60000", "--n-per-class", "12", "--n-uniform-coding", "45", "--seed", "0"])
    assert rc == 0
    return fasta, d / "bench"


def test_variant_benchmark_cli_on_a_tiny_model(small_benchmark, tmp_path, capsys):
    fasta, bench = small_benchmark
    torch.manual_seed(0)
    GenomambaLM(GenomambaConfig(d_model=16, n_layer=2)).save_pretrained(tmp_path / "model")
    out = tmp_path / "out"
    rc = cli_main(["variant-benchmark", "--model", str(tmp_path / "model"), "--fasta", str(fasta), "--benchmark",
                   str(bench), "--out-dir", str(out), "--window", "64", "--orders", "2", "4", "--embed-window", "32",
                   "--cv", "3", "--device", "cpu"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    printed = capsys.readouterr().err
    w = m["scorers"]["model_shift"]["auroc_within_substitution"]["missense"]
    assert f"missense within substitution type {format_ci(w['auroc'], w['ci'])}" in printed
    assert m["benchmark_regions"] == ["slice:40001-60000"] and m["markov_training_bp"] == 40_000
    assert set(m["scorers"]) == {"model", "model_shift", "model_influence", "markov_k2", "markov_k4", "codon_usage",
                                 "transversion_rule"}
    assert m["codon_usage_training_genes"] > 10
    assert "intergenic" not in m["scorers"]["codon_usage"]["auroc_vs_synonymous"]  # it scores coding SNVs only
    for sc in m["scorers"].values():
        for cls in ("nonsense", "missense"):
            a = sc["auroc_vs_synonymous"][cls]
            assert a["n_pos"] == 12 and a["n_neg"] == 12 and a["ci"][0] <= a["auroc"] <= a["ci"][1]
        assert sum(sc["codon_position"][p]["n"] for p in "123") == 45
    assert m["model_minus_best_markov"]["nonsense_vs_synonymous"]["best_markov_order"] in (2, 4)
    # every model score against the best Markov order and the substitution-type rule, on the same SNVs
    paired = m["paired_differences"]
    best = m["model_minus_best_markov"]["missense_vs_synonymous"]["best_markov_order"]
    assert {f"{s}_minus_{b}/{c}_vs_synonymous" for s in ("model", "model_shift", "model_influence")
            for b in ("transversion_rule", f"markov_k{best}") for c in ("nonsense", "missense")} <= set(paired)
    # the shift and the influence are also paired with the model's own LLR (the model is not)
    assert {f"{s}_minus_model/{c}_vs_synonymous" for s in ("model_shift", "model_influence")
            for c in ("nonsense", "missense")} <= set(paired) and "model_minus_model/nonsense_vs_synonymous" not in paired
    d = paired["model_influence_minus_model/nonsense_vs_synonymous"]
    assert d["auroc_a"] == pytest.approx(m["scorers"]["model_influence"]["auroc_vs_synonymous"]["nonsense"]["auroc"])
    assert d["auroc_b"] == pytest.approx(m["scorers"]["model"]["auroc_vs_synonymous"]["nonsense"]["auroc"])
    d = paired["model_shift_minus_transversion_rule/missense_vs_synonymous"]
    assert d["auroc_a"] == pytest.approx(m["scorers"]["model_shift"]["auroc_vs_synonymous"]["missense"]["auroc"])
    assert d["auroc_b"] == pytest.approx(m["scorers"]["transversion_rule"]["auroc_vs_synonymous"]["missense"]["auroc"])
    sup = m["supervised"]["nonsense_vs_synonymous"]
    assert sup["model"]["n_features"] == 16 and sup["kmer"]["n_features"] == 2 * 4**4
    report = (out / "report.md").read_text()
    assert "nonsense vs syn." in report and "markov_k4" in report and "Supervised heads" in report
    assert "| codon_usage |" in report and "frame-aware reference" in report
    assert "model: pretraining overlap: not checked (the model records no training data)" in report
    assert (out / "benchmark.png").stat().st_size > 10_000
    rows = (out / "scores.tsv").read_text().splitlines()
    assert rows[0].split("\t")[-7:] == ["model", "model_shift", "model_influence", "markov_k2", "markov_k4",
                                        "transversion_rule", "codon_usage"]
    assert len(rows) == 1 + 6 * 12 + 45
    # within one substitution type: the AUROC of the same SNVs restricted to transitions / transversions
    from genomamba.downstream.genes.benchmark import read_benchmark_labels
    from genomamba.downstream.genes.metrics import contrast_indices, transversion_rule

    labels = read_benchmark_labels(f"{bench}.labels.tsv")
    idx, y = contrast_indices(labels, "missense")
    model_scores = np.array([float(r.split("\t")[8]) for r in rows[1:]])
    tv = transversion_rule(labels)[idx] < 0
    by = m["scorers"]["model"]["auroc_by_substitution"]["missense"]
    assert by["transversions"]["auroc"] == pytest.approx(roc_auc_score(y[tv], -model_scores[idx][tv]))
    assert by["transitions"]["n_pos"] + by["transversions"]["n_pos"] == 12
    pooled = m["scorers"]["model"]["auroc_within_substitution"]["missense"]
    assert pooled["auroc"] == pytest.approx(stratified_auroc_ci(y, -model_scores[idx], tv)["auroc"])
    assert pooled["n_pos"] == 12 and m["scorers"]["transversion_rule"]["auroc_within_substitution"]["missense"]["auroc"] == 0.5
    best_within = max((2, 4), key=lambda k: m["scorers"][f"markov_k{k}"]["auroc_within_substitution"]["missense"]["auroc"])
    w = paired[f"model_shift_minus_markov_k{best_within}/missense_within_substitution"]
    assert w["statistic"] == "auroc_within_substitution"
    assert w["auroc_a"] == pytest.approx(m["scorers"]["model_shift"]["auroc_within_substitution"]["missense"]["auroc"])
    within = report.split("## Within one substitution type")[1].split("##")[0]
    assert "| model |" in within and "| model_shift |" in within and "| transversion_rule |" not in within
    assert "## Each model score minus its baselines" in report and "| model_shift | transversion_rule | missense vs syn." in report
    assert f"| model | markov_k{best_within} | missense vs syn. (same substitution type) |" in report


def test_transversion_rule_scores_substitution_type_only():
    from genomamba.downstream.genes.metrics import transversion_rule

    pairs = ["AG", "GA", "CT", "TC", "AC", "AT", "GC", "GT", "CA", "CG", "TA", "TG"]
    got = transversion_rule([{"ref": a, "alt": b} for a, b in pairs])
    assert got.tolist() == [0.0] * 4 + [-1.0] * 8


def test_variant_benchmark_refuses_a_model_trained_on_its_region(small_benchmark, tmp_path, capsys):
    """The model's training-data record covers the slice's first 50 kb; the benchmark region is
    40,001-60,000, so 10,000 of its bases were trained on."""
    fasta, bench = small_benchmark
    model = GenomambaLM(GenomambaConfig(d_model=16, n_layer=1))
    g = GenomeFile(fasta)
    model.training_data = describe_training_data([g], [[Interval("slice", 0, 50_000)]])
    model.save_pretrained(tmp_path / "model")
    args = ["variant-benchmark", "--model", str(tmp_path / "model"), "--fasta", str(fasta), "--benchmark", str(bench),
            "--window", "32", "--orders", "2", "--no-supervised", "--device", "cpu"]
    assert cli_main([*args, "--out-dir", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "test sequence the model was trained on (slice: 10,000 of 20,000 bp)" in err[0]
    assert "--region" in err[0] and not (tmp_path / "refused").exists()
    with pytest.warns(UserWarning, match="not held out"):
        assert cli_main([*args, "--out-dir", str(tmp_path / "out"), "--allow-seen"]) == 0
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["pretraining_overlap"] == {"recorded": True, "seen_bp": {"slice": 10_000}, "test_bp": {"slice": 20_000}}
    assert "NOT held out" in (tmp_path / "out" / "report.md").read_text()


def test_markov_llr_uses_only_the_training_split(small_benchmark, tmp_path):
    """Baselines-only run; the Markov LLR of an SNV is minus that of the reverse substitution."""
    from genomamba.downstream.genes.benchmark import read_benchmark_labels
    from genomamba.downstream.genes.metrics import markov_llr

    fasta, bench = small_benchmark
    out = tmp_path / "out"
    assert cli_main(["variant-benchmark", "--fasta", str(fasta), "--benchmark", str(bench), "--out-dir", str(out),
                     "--window", "64", "--orders", "3"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["scorers"]) == {"markov_k3", "codon_usage", "transversion_rule"} and "supervised" not in m
    genome = GenomeFile(fasta)
    labels = read_benchmark_labels(f"{bench}.labels.tsv")[:20]
    from genomamba.data.intervals import Interval

    fwd = markov_llr(genome, labels, [Interval("slice", 0, 40_000)], [3], 64)[3]
    # the same SNVs written the other way round, on a genome carrying the ALT alleles
    seq = list(genome.fetch("slice", 0, genome.lengths["slice"]))
    for r in labels:
        seq[r["pos"] - 1] = r["alt"]
    alt_fa = tmp_path / "alt.fa"
    alt_fa.write_text(">slice\n" + "".join(seq) + "\n")
    swapped = [{**r, "ref": r["alt"], "alt": r["ref"]} for r in labels]
    back = markov_llr(GenomeFile(alt_fa), swapped, [Interval("slice", 0, 40_000)], [3], 64)[3]
    nearby = {r["pos"] for r in labels}
    far = [i for i, r in enumerate(labels) if not any(0 < abs(r["pos"] - p) < 64 for p in nearby)]
    assert far and np.allclose(fwd[far], -back[far])


def test_relative_species_reference_reads_the_relatives_aligned_base(small_benchmark, tmp_path, capsys):
    """A "relative" that is the slice with some synonymous ALT alleles planted: those SNVs score
    +1 (the relative carries ALT), every other coding SNV with an aligned base -1 (it carries REF).
    Through the CLI: the scorer, its counts, the report line and the scores.tsv column."""
    from genomamba.downstream.genes.benchmark import read_benchmark_labels

    fasta, bench = small_benchmark
    labels = read_benchmark_labels(f"{bench}.labels.tsv")
    planted = {r["id"] for r in labels if r["consequence"] == "synonymous"}
    seq = list(GenomeFile(fasta).fetch("slice", 0, 60_000))
    for r in labels:
        if r["id"] in planted:
            seq[r["pos"] - 1] = r["alt"]
    relative = tmp_path / "relative.fa"
    relative.write_text(">relative\n" + "".join(seq) + "\n")
    out = tmp_path / "out"
    assert cli_main(["variant-benchmark", "--fasta", str(fasta), "--benchmark", str(bench), "--out-dir", str(out),
                     "--window", "64", "--orders", "2", "--relative", str(relative)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    counts = m["relative_species"]
    assert counts["fasta"] == str(relative) and counts["genes_with_homolog"] == counts["genes"] > 3
    rows = [line.split("\t") for line in (out / "scores.tsv").read_text().splitlines()]
    col = rows[0].index("relative_species")
    score = {r[0]: r[col] for r in rows[1:]}
    coding = [r for r in labels if r["gene_id"] != "."]
    assert all(score[r["id"]] == "nan" for r in labels if r["gene_id"] == ".")  # intergenic: not scored
    assert {float(score[r["id"]]) for r in coding if r["id"] in planted} == {1.0}
    others = [float(score[r["id"]]) for r in coding if r["id"] not in planted]
    assert others and set(others) == {-1.0}  # start and stop codons included
    assert counts["snvs_with_aligned_base"] == sum(float(score[r["id"]]) != 0 for r in coding)
    # every planted SNV is synonymous: the reference separates missense from synonymous perfectly here
    assert m["scorers"]["relative_species"]["auroc_vs_synonymous"]["missense"]["auroc"] == 1.0
    assert "`relative_species`: a conservation reference from one related genome, `relative.fa`" in (
        out / "report.md").read_text()
    # the benchmark's own genome is not a relative, and a relative that is not FASTA is refused;
    # both before any work, leaving no output directory
    capsys.readouterr()
    assert cli_main(["variant-benchmark", "--fasta", str(fasta), "--benchmark", str(bench), "--out-dir",
                     str(tmp_path / "same"), "--orders", "2", "--relative", str(fasta)]) == 2
    assert "is the benchmark's own genome" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("not a genome\n")
    assert cli_main(["variant-benchmark", "--fasta", str(fasta), "--benchmark", str(bench), "--out-dir",
                     str(tmp_path / "bad"), "--orders", "2", "--relative", str(text)]) == 2
    err = capsys.readouterr().err
    assert str(text) in err and "does not look like FASTA" in err and err.count("\n") == 1
    assert not (tmp_path / "same").exists() and not (tmp_path / "bad").exists()


def test_codon_usage_reference_counts_training_genes_only(small_benchmark):
    """log f(ALT codon) - log f(REF codon), f from the complete genes of the training split, checked
    against codon strings cut out of those genes with Biopython; antisymmetric; NaN outside genes."""
    from Bio.Seq import Seq

    from genomamba.data.intervals import Interval
    from genomamba.downstream.genes.benchmark import read_benchmark_labels
    from genomamba.downstream.genes.consequences import call_genes
    from genomamba.downstream.genes.metrics import codon_usage_llr

    fasta, bench = small_benchmark
    genome = GenomeFile(fasta)
    labels = read_benchmark_labels(f"{bench}.labels.tsv")
    train = [Interval("slice", 0, 40_000)]
    score, n_genes = codon_usage_llr(genome, labels, train)
    seq = genome.fetch("slice", 0, genome.lengths["slice"]).upper()
    inside = [g for g in call_genes(genome) if not g.partial and g.end <= 40_000]
    assert n_genes == len(inside) > 10
    words: list[str] = []
    for g in inside:
        cds = seq[g.start : g.end] if g.strand > 0 else str(Seq(seq[g.start : g.end]).reverse_complement())
        words += [cds[i : i + 3] for i in range(0, len(cds) - 2, 3)]
    total = len(words) + 0.5 * 64
    coding = [i for i, r in enumerate(labels) if r["ref_codon"] != "."]
    assert coding and np.isfinite(score[coding]).all()
    assert np.isnan(np.delete(score, coding)).all()  # intergenic SNVs have no codon
    for i in coding[:25]:
        r = labels[i]
        f_alt, f_ref = (words.count(r["alt_codon"]) + 0.5) / total, (words.count(r["ref_codon"]) + 0.5) / total
        assert score[i] == pytest.approx(math.log(f_alt) - math.log(f_ref), rel=1e-9, abs=1e-12)
    swapped = [{**labels[i], "ref_codon": labels[i]["alt_codon"], "alt_codon": labels[i]["ref_codon"]} for i in coding]
    back, _ = codon_usage_llr(genome, swapped, train)
    assert np.allclose(back, -score[coding])
    nonsense = [i for i in coding if labels[i]["consequence"] == "nonsense"]
    assert np.all(score[nonsense] < 0)  # stop codons are rare inside genes
