"""The statistics of the ingredient and trade-off benchmarks (benchmarks/ingredients.py,
benchmarks/tradeoff.py) on synthetic rows: no training, so these run in CI; the benchmarks
themselves are long runs, not tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from genomamba.downstream.gene_benchmark import read_benchmark_labels
from genomamba.downstream.gene_benchmark_metrics import contrast_indices

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "data" / "variants" / "ecoli536_genes_last5pct.labels.tsv"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ingredients = _load("ingredients")
tradeoff = _load("tradeoff")


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
    # "better": 10 bits fewer on every window, and nonsense SNVs scored far below the rest.
    nonsense = np.array([r["consequence"] == "nonsense" for r in labels])
    better = noise - 5.0 * nonsense
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


def test_tradeoff_scores_only_the_contrast_rows(tmp_path: Path) -> None:
    labels = read_benchmark_labels(LABELS)
    cut = read_benchmark_labels(tradeoff.contrast_labels(tmp_path))
    wanted = sorted({int(i) for cls in ("nonsense", "missense") for i in contrast_indices(labels, cls)[0]})
    assert [r["id"] for r in cut] == [labels[i]["id"] for i in wanted]
    assert {r["consequence"] for r in cut} == {"nonsense", "missense", "synonymous"}
    assert len(cut) < len(labels) / 2
