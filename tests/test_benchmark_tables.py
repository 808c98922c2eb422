"""The statistics of the ingredient and trade-off benchmarks (benchmarks/ingredients.py,
benchmarks/tradeoff.py) on synthetic rows: no training, so these run in CI; the benchmarks
themselves are long runs, not tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import ROOT, load_benchmark

from genomamba.downstream.genes.benchmark import read_benchmark_labels
from genomamba.downstream.genes.metrics import contrast_indices

LABELS = ROOT / "data" / "variants" / "ecoli536_genes_last5pct.labels.tsv"

ingredients = load_benchmark("ingredients")
tradeoff = load_benchmark("tradeoff")


def _row(name: str, bits: np.ndarray, scores: np.ndarray) -> dict:
    pos = np.full(len(bits), 1000)
    return {"name": name, "steps": 10, "n_parameters": 1, "objective": "causal", "comparable": True,
            "window_bits": bits.tolist(), "window_positions": pos.tolist(), "bits_per_base": float(bits.sum() / pos.sum()),
            "variant_scores": {"model": scores.tolist()}}


def test_ingredient_table_pairs_rows_with_the_base_row() -> None:
    labels = read_benchmark_labels(LABELS)
    rng = np.random.default_rng(0)
    bits = rng.normal(1900, 30, 64)
    noise = rng.normal(0, 1, len(labels))
    # "better": 10 bits fewer on every window, nonsense SNVs scored far below the rest, and
    # uniformly drawn SNVs at codon position 3 scored above positions 1 and 2 (it knows the frame).
    nonsense = np.array([r["consequence"] == "nonsense" for r in labels])
    third = np.array([r["sample"] == "uniform" and r["codon_position"] == 3 for r in labels])
    better = noise - 5.0 * nonsense + 3.0 * third
    table = {r["name"]: r for r in ingredients.summarize(
        {"base": _row("base", bits, noise), "same": _row("same", bits, noise), "better": _row("better", bits - 10, better),
         "broken": {"error": "Traceback ..."}}, LABELS)}
    assert "bits_minus_base" not in table["base"] and table["broken"] == {"name": "broken", "error": "Traceback ..."}
    assert table["same"]["bits_minus_base"] == {"difference": 0.0, "ci": [0.0, 0.0]}
    d = table["better"]["bits_minus_base"]
    assert np.isclose(d["difference"], -0.01) and d["ci"][1] < 0  # paired: every resample is 0.01 lower
    lo, hi = table["base"]["bits_per_base_ci"]
    assert lo < table["base"]["bits_per_base"] < hi
    assert table["base"]["nonsense_auroc"]["auroc"] < 0.6 < table["better"]["nonsense_auroc"]["auroc"]
    assert table["better"]["nonsense_minus_base"]["ci"][0] > 0
    m = table["better"]["missense_minus_base"]  # missense scores unchanged
    assert m["ci"][0] <= 0 <= m["ci"][1]
    assert abs(table["base"]["codon_position_auroc"]["auroc"] - 0.5) < 0.1
    assert table["better"]["codon_position_auroc"]["auroc"] > 0.9
    assert table["better"]["codon_position_minus_base"]["ci"][0] > 0.3


def test_ingredient_table_reports_missense_within_substitution_type() -> None:
    # A score that knows only transition vs transversion ranks missense above synonymous, but
    # over same-type pairs it ties them all: exactly 0.5. One that knows missense does not.
    labels = read_benchmark_labels(LABELS)
    bits = np.full(8, 1900.0)
    noise = np.random.default_rng(1).normal(0, 1, len(labels))
    purines = {"A", "G"}
    transversion = np.array([(r["ref"] in purines) != (r["alt"] in purines) for r in labels])
    missense = np.array([r["consequence"] == "missense" for r in labels])
    rows = {"base": _row("base", bits, noise), "rule": _row("rule", bits, -1.0 * transversion),
            "knows": _row("knows", bits, noise - 4.0 * missense)}
    rows["knows"]["variant_scores"]["model_shift"] = (noise - 4.0 * missense).tolist()
    table = {r["name"]: r for r in ingredients.summarize(rows, LABELS)}
    assert table["rule"]["missense_auroc"]["auroc"] > 0.55
    rule = table["rule"]["missense_within_substitution"]["model"]
    assert rule["auroc"] == 0.5 and rule["ci"] == [0.5, 0.5]
    knows = table["knows"]["missense_within_substitution"]
    assert knows["model"]["auroc"] > 0.9 and knows["model_minus_base"]["ci"][0] > 0.3
    assert "model_shift" in knows and "model_shift_minus_base" not in knows  # base has no shift scores
    assert "model_minus_base" not in table["base"]["missense_within_substitution"]
    # --base: every row is paired with the named row instead
    other = {r["name"]: r for r in ingredients.summarize(rows, LABELS, base_name="knows")}
    assert "missense_minus_base" not in other["knows"] and other["base"]["missense_minus_base"]["ci"][1] < -0.3


def test_ingredient_table_pairs_bits_only_on_the_same_windows() -> None:
    """Rows scored on different held-out windows (their digests differ) get no paired bits difference."""
    labels = read_benchmark_labels(LABELS)
    bits, scores = np.full(8, 1900.0), np.zeros(len(labels))
    rows = {"base": {**_row("base", bits, scores), "windows_sha1": "a"},
            "same": {**_row("same", bits - 5, scores), "windows_sha1": "a"},
            "other": {**_row("other", bits - 5, scores), "windows_sha1": "b"}}
    table = {r["name"]: r for r in ingredients.summarize(rows, LABELS)}
    assert np.isclose(table["same"]["bits_minus_base"]["difference"], -0.005)
    assert "bits_minus_base" not in table["other"] and "bits_per_base_ci" in table["other"]


def test_ingredients_models_option_needs_name_equals_path(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["ingredients.py", "--models", "base=ecoli536-hybrid-small", "runs/x"])
    assert ingredients.main() == 2
    assert "--models 'runs/x': write NAME=PATH" in capsys.readouterr().err


def test_tradeoff_scores_only_the_contrast_rows(tmp_path: Path) -> None:
    labels = read_benchmark_labels(LABELS)
    cut = read_benchmark_labels(tradeoff.contrast_labels(tmp_path))
    wanted = sorted({int(i) for cls in ("nonsense", "missense") for i in contrast_indices(labels, cls)[0]})
    assert [r["id"] for r in cut] == [labels[i]["id"] for i in wanted]
    assert {r["consequence"] for r in cut} == {"nonsense", "missense", "synonymous"}
    assert len(cut) < len(labels) / 2


def test_tradeoff_pairs_architectures_on_the_same_windows_and_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    pos = rng.integers(900, 1000, 50)
    hybrid_bits = pos * rng.normal(1.92, 0.03, 50)

    def point(bits: np.ndarray, **extra) -> dict:
        return {"minutes": 10.0, "bits_per_base": float(bits.sum() / pos.sum()), "bits_per_base_ci": [1.9, 1.95],
                "window_bits": bits.tolist(), "window_positions": pos.tolist(),
                "zero_shot_auroc": {"nonsense": {"auroc": 0.7}}, "markov_bits_per_base": {"2": 1.97, "8": 1.98}, **extra}

    results = [{"arch": "hybrid", "window_length": 1024, "points": [point(hybrid_bits)]},
               {"arch": "mamba", "window_length": 1024, "points": [point(hybrid_bits + 0.02 * pos)]},
               {"arch": "mamba", "window_length": 4096, "points": [point(hybrid_bits)]}]  # no hybrid at 4 kb
    pairs = tradeoff.paired_against(results, "hybrid")
    assert len(pairs) == 1 and pairs[0]["arch"] == "mamba" and pairs[0]["window_length"] == 1024
    assert np.isclose(pairs[0]["difference"], 0.02) and pairs[0]["ci"][0] > 0
    tradeoff.plot(results, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 10_000

    # --cached-only writes the table from the points measured so far and trains nothing: the
    # 30-minute budget and the Transformer have no point here, so they are left out.
    runs = tmp_path / "runs"
    for r in results[:2]:
        (runs / f"{r['arch']}_1024").mkdir(parents=True)
        (runs / f"{r['arch']}_1024" / "point_10min.json").write_text(json.dumps(r["points"][0]))
    out = tmp_path / "tradeoff.json"
    monkeypatch.setattr(sys, "argv", ["tradeoff.py", "--cached-only", "--lengths", "1024", "--budgets", "10", "30",
                                      "--runs-dir", str(runs), "--out", str(out), "--plot", str(tmp_path / "c.png")])
    tradeoff.main()
    doc = json.loads(out.read_text())
    assert [(r["arch"], [p["minutes"] for p in r["points"]]) for r in doc["results"]] == [
        ("mamba", [10.0]), ("hybrid", [10.0]), ("transformer", [])]
    assert np.isclose(doc["bits_per_base_minus_hybrid"][0]["difference"], 0.02)
    assert not (runs / "transformer_1024").exists()


def test_tradeoff_heldout_bits_match_evaluate_models_figures(tiny_model: Path) -> None:
    """The trade-off scores each point once, on the windows ``evaluate_model`` scores: its pooled
    bits/base, per-window bits and Markov baselines are ``evaluate_model``'s."""
    from genomamba.training.evaluate import evaluate_model

    ecoli = ROOT / "data" / "genomes" / "escherichia_coli_536.fa.gz"
    held = tradeoff.heldout_bits(tiny_model, 256, 256 * 6, seed=0)
    assert len(held["window_bits"]) == held["heldout_windows"] == 6
    pooled = sum(held["window_bits"]) / sum(held["window_positions"])
    ref = evaluate_model(tiny_model, ecoli, window_length=256, max_windows=6, orders=[2, 8])
    assert np.isclose(pooled, ref["model"]["bits_per_base"], rtol=1e-5)
    assert np.isclose(held["bits_per_base"], pooled)
    assert sum(held["window_positions"]) == ref["model"]["n_positions"]
    assert held["markov_bits_per_base"].keys() == ref["markov"].keys() == {"2", "8"}
    for k, v in ref["markov"].items():
        assert np.isclose(held["markov_bits_per_base"][k], v, rtol=1e-9)
    lo, hi = held["bits_per_base_ci"]
    assert lo <= pooled <= hi


def test_species_probe_summary_keeps_the_paired_comparison_of_the_same_windows(tiny_model: Path) -> None:
    """benchmarks/species_probe.py stores, per window length, what probe() measured on one window set."""
    from genomamba.downstream.species.probe import probe

    species_probe = load_benchmark("species_probe")
    report = probe(str(tiny_model), ROOT / "data" / "species.tsv", window_length=[64, 128], n_windows=4,
                   split="strain", n_test_windows=4, kmer_k=[4, 6], seed=3,
                   test_strains={"Klebsiella pneumoniae": "MGH 78578", "Staphylococcus aureus": "N315"})
    summary = species_probe.summarise(report)
    assert summary["seed"] == 3 and set(summary["held_out"]) == set(report["species"])
    assert summary["held_out"]["Staphylococcus aureus"] == "strain N315"  # seed 3 alone would hold out JH1
    for entry in report["results"]:
        row = summary[str(entry["window_length"])]
        assert row["probe"] == entry["probe"]["accuracy"] and row["kmer4"] == entry["kmer"]["k=4"]["accuracy"]
        diff = row["diff"]  # probe minus 6-mer on the same 16 test windows
        assert diff["n"] == row["n_test"] == 16
        assert diff["accuracy_a"] == row["probe"] and diff["accuracy_b"] == row["kmer6"]
        assert diff["difference"] == pytest.approx(row["probe"] - row["kmer6"])
        assert sum(map(sum, row["confusion_matrix"])) == 16


def test_relative_strain_lookup_counts_what_follows_a_context_on_both_strands() -> None:
    from genomamba.data.tokenizer import reverse_complement_str

    relative_strain = load_benchmark("relative_strain")
    rng = np.random.default_rng(0)
    records = ["".join(rng.choice(list("ACGT"), 300)), "ACGTNACGTTACG"]
    k = 3
    table = relative_strain.context_table(records, k)
    for context in ("ACG", "CGT", "TTT", "GCA"):
        for base in "ACGT":
            expected = sum(
                strand[i : i + k] == context and strand[i + k] == base
                for record in records
                for strand in (record, reverse_complement_str(record))
                for i in range(len(strand) - k)
            )
            assert relative_strain.count(table, context, base) == expected, (context, base)
    assert relative_strain.count(table, "ANG", "A") == 0  # N never matches


# -- species_ceiling.py: the composition-only classifiers ---------------------------------------
species_ceiling = load_benchmark("species_ceiling")


def test_markov_classifier_picks_the_chain_that_makes_a_window_likeliest() -> None:
    """Two sources: GC-rich and AT-rich. Test windows of each go to their own class, and a window
    scored on both strands is classified the same as its reverse complement."""
    rng = np.random.default_rng(0)
    gc = [rng.choice(4, 400, p=[0.1, 0.4, 0.4, 0.1]) for _ in range(20)]
    at = [rng.choice(4, 400, p=[0.4, 0.1, 0.1, 0.4]) for _ in range(20)]
    test = np.stack([rng.choice(4, 200, p=[0.1, 0.4, 0.4, 0.1]) for _ in range(5)]
                    + [rng.choice(4, 200, p=[0.4, 0.1, 0.1, 0.4]) for _ in range(5)])
    pred = species_ceiling.markov_classify([gc, at], test, order=2)
    assert pred.tolist() == [0] * 5 + [1] * 5
    rc = (3 - test)[:, ::-1]
    assert species_ceiling.markov_classify([gc, at], rc, order=2).tolist() == pred.tolist()


def test_codon_features_count_in_frame_codons_of_both_strands() -> None:
    """A 30 bp window at record position 100. A plus-strand gene from 94 (its codons start at 94,
    so 100 is a codon start) and a minus-strand gene ending at 127 (codons, read on the minus
    strand, start at 126, 123, ...), counted by hand; codons cut by the window edge are left out."""
    from types import SimpleNamespace

    from genomamba.downstream.genes.consequences import Gene
    from genomamba.tokens import A_ID, C_ID, G_ID, T_ID

    window = np.array([A_ID, T_ID, G_ID] * 10, dtype=np.int8)  # ATGATG... from 100 to 130
    plus = Gene("g1", "chr", 94, 115, 1)  # codons 94, 97 | 100, 103, 106, 109, 112 -> five ATG
    minus = Gene("g2", "chr", 118, 127, -1)  # minus strand [118, 127): codons [124,127), [121,124), [118,121)
    genes = {"toy": {"chr": (np.array([94, 118]), [plus, minus])}}
    windows = SimpleNamespace(ids=window[None], labels=np.array([0]), start=np.array([100]), genome=["toy"], contig=["chr"])
    feats = species_ceiling.codon_features(windows, genes)[0]
    # minus-strand codons: reverse complement of ATG|ATG|ATG at 118..127 -> CAT CAT CAT
    atg, cat = 16 * A_ID + 4 * T_ID + G_ID, 16 * C_ID + 4 * A_ID + T_ID
    assert feats[atg] == pytest.approx(5 / 8) and feats[cat] == pytest.approx(3 / 8)
    assert feats[:64].sum() == pytest.approx(1.0)
    assert feats[64] == pytest.approx((15 + 9) / 30)  # coding fraction: [100, 115) and [118, 127)


# -- compare_scorers.py ----------------------------------------------------------------------
compare_scorers = load_benchmark("compare_scorers")


def test_compare_scorers_pairs_two_columns_on_every_contrast() -> None:
    """On the bundled benchmark's labels: a scorer that ranks every nonsense SNV below every
    synonymous one, against a random one, paired on the same SNVs; NaNs are dropped pairwise."""
    from genomamba.downstream.stats import auroc

    labels = read_benchmark_labels(LABELS)
    rng = np.random.default_rng(0)
    damaging = np.array([r["consequence"] != "synonymous" for r in labels])
    perfect = np.where(damaging, -1.0, 1.0) + 0.01 * rng.standard_normal(len(labels))
    noise = rng.standard_normal(len(labels))
    idx, y = contrast_indices(labels, "nonsense")
    noise[idx[:5]] = np.nan  # not scored by b: left out of the pair
    out = compare_scorers.compare(labels, {"a": perfect, "b": noise}, "a", "b")
    assert set(out) == {"nonsense", "missense", "start_lost", "stop_lost", "intergenic"}
    ok = np.isfinite(noise[idx])
    assert out["nonsense"]["n"] == ok.sum() == len(idx) - 5
    assert out["nonsense"]["auroc_a"] == pytest.approx(1.0)
    assert out["nonsense"]["auroc_b"] == pytest.approx(auroc(y[ok], -noise[idx][ok]))
    assert out["nonsense"]["difference"] == pytest.approx(1.0 - out["nonsense"]["auroc_b"])
    assert out["nonsense"]["ci"][0] > 0.3


# -- missense_ceiling.py: frame-given coding statistics ------------------------------------------
missense_ceiling = load_benchmark("missense_ceiling")


def test_periodic_chain_learns_one_table_per_codon_position() -> None:
    """Coding sequences whose third positions are always G and whose first two are uniform: the
    phase-2 table predicts G whatever the context, the phase-0 table stays near uniform."""
    rng = np.random.default_rng(0)
    cds = []
    for _ in range(200):
        codons = rng.integers(0, 4, (60, 3))
        codons[:, 2] = 2
        cds.append(codons.reshape(-1))
    log_p = missense_ceiling.fit_periodic_markov(cds, order=2)
    assert log_p.shape == (3, 16, 4)
    np.testing.assert_allclose(np.exp(log_p).sum(-1), 1.0)
    seen = [1 * 4 + 3, 0 * 4 + 1]  # contexts (C, T) and (A, C) before a third position
    assert (np.exp(log_p[2, seen, 2]) > 0.99).all()
    assert np.abs(np.exp(log_p[0]) - 0.25).max() < 0.1  # a first position after "?G": uniform


def test_periodic_llr_sums_the_predictions_the_snv_enters() -> None:
    """Order 1, by hand: the site term alone, then the site and the next base's term."""
    log_p = np.log(np.full((3, 4, 4), 0.25))
    log_p[1, 0] = np.log([0.7, 0.1, 0.1, 0.1])  # phase 1 after A
    log_p[2, 0] = np.log([0.1, 0.1, 0.1, 0.7])  # phase 2 after A
    log_p[2, 3] = np.log([0.4, 0.4, 0.1, 0.1])  # phase 2 after T
    ref, alt = np.array([0, 0, 0]), np.array([0, 3, 0])  # AAA -> ATA at index 1
    site = np.log(0.1) - np.log(0.7)
    assert missense_ceiling.periodic_llr(log_p, ref, alt, 1, window=False) == pytest.approx(site)
    nxt = np.log(0.4) - np.log(0.1)  # index 2 (phase 2): A after T instead of A after A
    assert missense_ceiling.periodic_llr(log_p, ref, alt, 1, window=True) == pytest.approx(site + nxt)
    # no context before index 0 at order 1: its own term is not scored, only the next one
    assert missense_ceiling.periodic_llr(log_p, ref, alt, 0, window=False) == 0.0


def test_codon_pair_llr_uses_the_pairs_on_both_sides() -> None:
    log_p = np.zeros((64, 64))
    log_p[0, 5] = -1.0  # AAA -> ACC
    log_p[5, 63] = -2.0  # ACC -> TTT
    log_p[0, 4] = -0.5  # AAA -> ACA
    log_p[4, 63] = -0.25  # ACA -> TTT
    ref = np.array([0, 0, 0, 0, 1, 1, 3, 3, 3])  # AAA ACC TTT
    alt = ref.copy()
    alt[5] = 0  # ACC -> ACA
    llr = missense_ceiling.codon_pair_llr(log_p, ref, alt, 5)
    assert llr == pytest.approx((-0.5 - 0.25) - (-1.0 - 2.0))
    assert missense_ceiling.codon_pair_llr(log_p, ref, ref, 0) == 0.0  # first codon: one pair only
