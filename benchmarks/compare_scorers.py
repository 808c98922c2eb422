"""Two scorers of one gene-benchmark run, paired on the same SNVs, for every contrast (prints one
JSON document; an accuracy report, not a timed test).

``genomamba variant-benchmark`` pairs each model score with its baselines on nonsense and
missense. This compares any two columns of its ``scores.tsv`` (``model``, ``model_shift``,
``model_influence``, ``markov_k3``, ``codon_usage`` ...) on every damaging class against
synonymous SNVs, with the paired bootstrap CI of the AUROC difference:

    genomamba variant-benchmark --model ecoli536-hybrid-d256 --fasta data/genomes/escherichia_coli_536.fa.gz \\
        --benchmark data/variants/ecoli536_genes_last5pct --out-dir D --no-supervised
    python benchmarks/compare_scorers.py D --benchmark data/variants/ecoli536_genes_last5pct \\
        --a model_influence --b model model_shift
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np


def compare(labels: list[dict[str, Any]], scores: dict[str, np.ndarray], a: str, b: str, seed: int = 0) -> dict[str, Any]:
    """``{contrast: paired AUROC difference a - b}`` over the benchmark's contrasts (lower score =
    more damaging for every column, as in ``scores.tsv``); SNVs that either scorer left out are
    dropped from that contrast."""
    from genomamba.downstream.genes.metrics import CONTRASTS, contrast_indices
    from genomamba.downstream.stats import paired_auroc_difference

    out = {}
    for cls in CONTRASTS:
        idx, y = contrast_indices(labels, cls)
        ok = np.isfinite(scores[a][idx]) & np.isfinite(scores[b][idx])
        if len(set(y[ok].tolist())) == 2:
            out[cls] = {"n": int(ok.sum()), **paired_auroc_difference(y[ok], -scores[a][idx][ok], -scores[b][idx][ok], seed=seed)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path, help="a variant-benchmark --out-dir (reads its scores.tsv)")
    ap.add_argument("--benchmark", required=True, help="the benchmark PREFIX (reads PREFIX.labels.tsv)")
    ap.add_argument("--a", required=True, help="scorer column a")
    ap.add_argument("--b", required=True, nargs="+", help="scorer column(s) b")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()

    from genomamba.downstream.genes.benchmark import read_benchmark_labels
    from genomamba.outputs import atomic_write_text, json_text

    labels = read_benchmark_labels(f"{args.benchmark}.labels.tsv")
    with open(args.out_dir / "scores.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if [r["id"] for r in rows] != [r["id"] for r in labels]:
        ap.error(f"{args.out_dir}/scores.tsv does not list the SNVs of {args.benchmark}.labels.tsv in order")
    missing = sorted({args.a, *args.b} - set(rows[0]))
    if missing:
        ap.error(f"{args.out_dir}/scores.tsv has no column(s) {missing}; columns: {list(rows[0])[8:]}")
    scores = {c: np.array([float(r[c]) if r[c] not in ("", "nan") else math.nan for r in rows]) for c in {args.a, *args.b}}
    text = json_text({"out_dir": str(args.out_dir), "benchmark": args.benchmark, "a": args.a,
                       "a_minus": {b: compare(labels, scores, args.a, b, args.seed) for b in args.b}}, indent=1) + "\n"
    sys.stdout.write(text)
    if args.out:
        atomic_write_text(args.out, text, option="--out")


if __name__ == "__main__":
    main()
