"""Linear probe on frozen embeddings vs the k-mer baseline, on the bundled genomes."""

from __future__ import annotations

import numpy as np

from genomamba.downstream import probe


def test_probe_reports_well_formed_metrics_for_both_lengths(causal_model, species_tsv) -> None:
    out = probe(causal_model, species_tsv, window_length=[128, 256], n_windows=16, split="strain", seed=0, kmer_k=4,
                n_test_windows=8)
    assert out["species"][0] == "Escherichia coli" and out["chance"] == 0.25
    assert [r["window_length"] for r in out["results"]] == [128, 256]
    for r in out["results"]:
        assert r["n_train"] == 64 and r["n_test"] == 32
        for m in (r["probe"], r["kmer"]["k=4"]):
            cm = np.asarray(m["confusion_matrix"])
            assert cm.shape == (4, 4) and cm.sum() == 32 and cm.sum(1).tolist() == [8, 8, 8, 8]
            assert m["accuracy"] == np.trace(cm) / 32 and 0 <= m["macro_f1"] <= 1
            lo, hi = m["accuracy_ci"]
            assert lo <= m["accuracy"] <= hi and hi - lo > 0.2  # 32 windows: a wide 95% interval
        # paired comparison on the same windows: the difference of the two accuracies
        c = r["probe_vs_kmer"]["k=4"]
        assert c["n"] == 32 and c["difference"] == r["probe"]["accuracy"] - r["kmer"]["k=4"]["accuracy"]
        assert c["difference_ci"][0] <= c["difference"] <= c["difference_ci"][1] and 0 <= c["mcnemar_p"] <= 1
    # The summary table mirrors the per-length metrics.
    assert out["accuracy"][256]["kmer_k4"] == out["results"][1]["kmer"]["k=4"]["accuracy"]
    # Even a random tiny Mamba's mean embedding carries composition signal (GC content differs).
    assert out["accuracy"][256]["probe"] > 0.4
    # print(report) is a table with the same figures, not a dict dump.
    text = str(out)
    assert not text.startswith("{") and "strain split, chance 0.25" in text
    m = out["results"][1]
    assert f"window 256 bp ({m['n_train']} train / {m['n_test']} test windows)" in text
    assert f"linear probe on embeddings    {m['probe']['accuracy']:.3f} [{m['probe']['accuracy_ci'][0]:.3f}," in text
    assert f"4-mer logistic baseline       {m['kmer']['k=4']['accuracy']:.3f}" in text
    assert f"probe - 4-mer: {m['probe_vs_kmer']['k=4']['difference']:.3f}" in text


def test_probe_is_deterministic_and_kmer_only_without_model(species_tsv) -> None:
    a = probe(None, species_tsv, window_length=256, n_windows=12, seed=1, kmer_k=3, n_test_windows=6)
    b = probe(None, species_tsv, window_length=256, n_windows=12, seed=1, kmer_k=3, n_test_windows=6)
    assert a["results"][0]["probe"] is None
    assert a["results"][0]["kmer"]["k=3"] == b["results"][0]["kmer"]["k=3"]
    assert a["results"][0]["probe_vs_kmer"] == {} and a["results"][0]["n_test"] == 4 * 6
