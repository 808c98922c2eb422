"""Linear probe on frozen embeddings vs the k-mer baseline, on the bundled genomes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from genomamba.api import GenomambaModel, as_lm
from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import split_by_region
from genomamba.data.provenance import describe_training_data
from genomamba.downstream import probe
from genomamba.errors import ConfigError
from genomamba.models import GenomambaConfig, GenomambaLM

ECOLI = Path(__file__).resolve().parents[2] / "data" / "genomes" / "escherichia_coli_536.fa.gz"


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


def test_probe_refuses_test_windows_the_model_was_trained_on(species_tsv) -> None:
    """A model whose training-data record covers E. coli 536's first 95%: a region split holding out
    the last 20% tests partly on trained sequence (refused), the last 5% does not."""
    torch.manual_seed(1)
    model = GenomambaModel(GenomambaLM(GenomambaConfig(d_model=16, n_layer=2)), device="cpu")
    ecoli = GenomeFile(ECOLI)
    trained = split_by_region(ecoli.lengths, val_fraction=0.05, test_fraction=0.0)["train"]
    as_lm(model).training_data = describe_training_data([ecoli], [trained])
    n = ecoli.total_length
    kw = dict(window_length=64, n_windows=4, n_test_windows=2, split="region", seed=0, kmer_k=3)
    seen_bp = trained[0].end - round(n * 0.8)  # last 20% minus the untrained last 5%
    with pytest.raises(ConfigError, match=rf"species probe: test sequence the model was trained on \(Escherichia coli "
                                          rf"536: {seen_bp:,} of {n - round(n * 0.8):,} bp\).*test_strains.*allow_seen=True"):
        probe(model, species_tsv, test_fraction=0.2, **kw)
    with pytest.warns(UserWarning, match="not held out"):
        seen = probe(model, species_tsv, test_fraction=0.2, allow_seen=True, **kw)
    assert seen["pretraining_overlap"]["seen_bp"] == {"Escherichia coli 536": seen_bp}
    assert "NOT held out" in str(seen)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = probe(model, species_tsv, test_fraction=0.05, **kw)
    assert clean["pretraining_overlap"] == {"recorded": True, "seen_bp": {}, "test_bp": clean["pretraining_overlap"]["test_bp"]}
    assert len(clean["pretraining_overlap"]["test_bp"]) == 6 and "pretraining overlap: none" in str(clean)
