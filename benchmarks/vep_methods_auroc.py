"""Zero-shot AUROCs of the two causal scoring methods side by side, on one gene benchmark.

``tiled`` (the default: context from fixed tiles, exact state reuse) and ``window`` (centred
windows, the method of the published numbers) score the same SNVs with the same model; for each
score (LLR, influence, shift) and contrast (nonsense / missense vs synonymous) this prints the
two AUROCs with 95% bootstrap CIs and the paired difference tiled - window with its paired
bootstrap CI (genomamba.downstream.stats), on the benchmark's stratified nonsense, missense and
synonymous SNVs (the SNVs these contrasts rank). A difference whose CI holds 0 is not a change.

    python benchmarks/vep_methods_auroc.py --model ecoli536-hybrid-small \\
        --out benchmarks/results/vep_methods_ecoli536_hybrid_small.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from genomamba.data.fasta import GenomeFile
from genomamba.data.tracks import open_track
from genomamba.downstream.genes.benchmark import read_benchmark_labels
from genomamba.downstream.genes.metrics import contrast_indices
from genomamba.downstream.stats import auroc_ci, paired_auroc_difference
from genomamba.downstream.variants.scoring import score_variants
from genomamba.downstream.variants.vcf import Variant
from genomamba.models import GenomambaLM

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ecoli536-hybrid-small")
    p.add_argument("--fasta", default=str(REPO / "data/genomes/escherichia_coli_536.fa.gz"))
    p.add_argument("--benchmark", default=str(REPO / "data/variants/ecoli536_genes_last5pct"))
    p.add_argument("--track", default=None, help="the genome's relative track, for a relative-track model")
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="also write the JSON here")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = GenomambaLM.load(a.model).eval()
    genome = GenomeFile(a.fasta)
    track = open_track(a.track, genome) if a.track else None
    labels = read_benchmark_labels(f"{a.benchmark}.labels.tsv")
    # the SNVs of the contrasts (stratified nonsense, missense, synonymous): the others are not ranked here
    labels = [r for r in labels if r["sample"] == "stratified" and r["consequence"] in ("nonsense", "missense", "synonymous")]
    scores, seconds = {}, {}
    for method in ("window", "tiled"):
        variants = [Variant(r["chrom"], int(r["pos"]), r["ref"], r["alt"]) for r in labels]
        t0 = time.perf_counter()
        rows = score_variants(model, genome, variants, window=a.window, method=method, track=track)
        seconds[method] = time.perf_counter() - t0
        scores[method] = {c: np.array([r[c] for r in rows], dtype=np.float64) for c in ("score", "influence", "shift")}
    result: dict = {
        "model": a.model, "benchmark": a.benchmark, "window": a.window, "n_variants": len(labels),
        "seconds": seconds, "threads": a.threads, "machine": platform.node(),
        "note": "wall seconds on a shared 2-core machine; AUROC: label 1 = the damaging class, ranked by -LLR and "
                "by +influence / +shift; 95% bootstrap CIs; difference = tiled - window, paired bootstrap",
        "contrasts": {},
    }
    for column, sign in (("score", -1.0), ("influence", 1.0), ("shift", 1.0)):
        for cls in ("nonsense", "missense"):
            idx, y = contrast_indices(labels, cls)
            w, t = sign * scores["window"][column][idx], sign * scores["tiled"][column][idx]
            ok = np.isfinite(w) & np.isfinite(t)
            d = paired_auroc_difference(y[ok], t[ok], w[ok])
            inside = d["ci"][0] <= 0.0 <= d["ci"][1]
            result["contrasts"][f"{column}/{cls}_vs_synonymous"] = {
                "n": int(ok.sum()), "window": auroc_ci(y[ok], w[ok]), "tiled": auroc_ci(y[ok], t[ok]),
                "tiled_minus_window": d, "difference_ci_contains_zero": inside,
                "spearman_tiled_vs_window": float(np.corrcoef(np.argsort(np.argsort(t[ok])),
                                                              np.argsort(np.argsort(w[ok])))[0, 1]),
            }
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
