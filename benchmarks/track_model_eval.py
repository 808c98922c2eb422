"""Held-out figures of a trained relative-track model beside the plain model it started from
(prints one JSON document; what the ``ecoli536-relative-track`` model card reports).

* **Bits/base** on the held-out last 5% of E. coli 536 (the windows ``genomamba evaluate`` uses:
  the run's split, 1 kb, 256 windows): the track model with its track, the same model with an
  all-N track, and the base model, paired over windows; Markov orders 1-8 fitted on the
  training split.
* **Gene benchmarks** (``genomamba variant-benchmark`` metrics, supervised heads left out): E. coli
  536's last 5% with K. pneumoniae MGH 78578 as the relative, and K. pneumoniae HS11286 (a genome
  no model here saw) with E. coli 536 as the relative. The model's LLR is paired on the same SNVs
  with the best Markov order, the ``relative_species`` conservation reference built from the same
  homolog alignments as the track, and the base model's LLR.

    python benchmarks/track_model_eval.py --model runs/ship_track/model --base ecoli536-mamba-periodic \\
        --out benchmarks/results/ecoli536_relative_track.json

About 25 minutes on the 2-core CPU (two models score 6,400 SNVs on both strands).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path("data")
ECOLI = DATA / "genomes" / "escherichia_coli_536.fa.gz"
# Paths relative to the repository (main() runs from there), so the JSON names no local folder.
BENCHMARKS = (  # (genome, benchmark prefix, its track, the track's relative)
    (ECOLI, DATA / "variants" / "ecoli536_genes_last5pct",
     DATA / "tracks" / "escherichia_coli_536.relative_klebsiella_pneumoniae_MGH78578.fa.gz",
     DATA / "genomes" / "klebsiella_pneumoniae_MGH78578.fa.gz"),
    (DATA / "genomes" / "klebsiella_pneumoniae_HS11286.fa.gz", DATA / "variants" / "kpneumoniae_HS11286_genes_last5pct",
     DATA / "tracks" / "klebsiella_pneumoniae_HS11286.relative_escherichia_coli_536.fa.gz", ECOLI),
)


def heldout_bits(model_path: str, base_name: str, max_windows: int) -> dict[str, Any]:
    """Bits/base of the track model (with its track, with an all-N track) and of the base model on
    the same held-out E. coli windows, with paired differences and the Markov baselines."""
    from genomamba.downstream.stats import paired_ratio_difference, ratio_ci
    from genomamba.models import GenomambaLM
    from genomamba.training.evaluate import heldout_datamodule
    from genomamba.training.evaluation import heldout_windows_and_tracks, training_sequences, window_bits
    from genomamba.training.markov import MAX_ORDER, markov_baselines, scoring_mask

    model, dm, settings = heldout_datamodule(model_path, ECOLI, track=BENCHMARKS[0][2])
    windows, tracks = heldout_windows_and_tracks(dm, max_windows)
    base = GenomambaLM.load(base_name)
    bits = {"with_track": window_bits(model, windows, tracks=tracks), "all_n_track": window_bits(model, windows),
            "base_model": window_bits(base, windows)}
    # the same positions as the models' (targets with 8 in-window nucleotides before them)
    markov = markov_baselines(training_sequences(dm), windows, eval_masks=[scoring_mask(w, MAX_ORDER) for w in windows])
    best = min(markov, key=lambda k: markov[k])
    out: dict[str, Any] = {"n_windows": len(windows), "window": int(len(windows[0])), "split": settings,
                           "aligned_fraction": float(np.mean([(t < 4).mean() for t in tracks])),
                           "markov": {str(k): v for k, v in markov.items()}, "markov_best": {"order": best, "bits_per_base": markov[best]}}
    for name, (num, den) in bits.items():
        out[name] = ratio_ci(num, den)
    for rival in ("all_n_track", "base_model"):
        out[f"with_track_minus_{rival}"] = paired_ratio_difference(*bits["with_track"], *bits[rival])
    return out


def gene_benchmark(model_path: str, base_name: str, genome: Path, prefix: Path, track: Path, relative: Path) -> dict[str, Any]:
    """``variant-benchmark`` metrics of the track model, plus its LLR paired with the base model's."""
    from genomamba.downstream.genes.benchmark import read_benchmark_labels
    from genomamba.downstream.genes.metrics import (
        contrast_indices,
        evaluate_gene_benchmark,
        scorer_metrics,
        substitution_type,
        transversion_rule,
    )
    from genomamba.downstream.stats import paired_auroc_difference, paired_stratified_auroc_difference
    from genomamba.downstream.variants.scoring import score_variants
    from genomamba.downstream.variants.vcf import Variant
    from genomamba.models import GenomambaLM

    model = GenomambaLM.load(model_path)
    metrics, scores = evaluate_gene_benchmark(
        model, genome, f"{prefix}.vcf", f"{prefix}.labels.tsv", window=512, supervised=False, relative=relative,
        track=track)
    labels = read_benchmark_labels(f"{prefix}.labels.tsv")
    rows = score_variants(GenomambaLM.load(base_name), genome, [Variant(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in labels],
                          window=512)
    base = np.array([r["score"] for r in rows], dtype=np.float64)
    metrics["scorers"]["base_model"] = scorer_metrics(labels, base)
    is_tv = transversion_rule(labels) < 0
    for cls in ("nonsense", "missense"):
        idx, y = contrast_indices(labels, cls)
        d = paired_auroc_difference(y, -scores["model"][idx], -base[idx])
        metrics["paired_differences"][f"model_minus_base_model/{cls}_vs_synonymous"] = {
            "scorer": "model", "baseline": "base_model", "contrast": cls, "statistic": "auroc", **d}
        d = paired_stratified_auroc_difference(y, -scores["model"][idx], -base[idx], substitution_type(is_tv[idx]))
        metrics["paired_differences"][f"model_minus_base_model/{cls}_within_substitution"] = {
            "scorer": "model", "baseline": "base_model", "contrast": cls, "statistic": "auroc_within_substitution", **d}
    metrics["genome"], metrics["track"], metrics["base_model"] = str(genome), str(track), base_name
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the relative-track model (a name, model dir or run dir)")
    ap.add_argument("--base", default="ecoli536-mamba-periodic", help="the model it was initialised from")
    ap.add_argument("--heldout-windows", type=int, default=256)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    import os

    from genomamba.outputs import atomic_write_text, json_text

    out = None if a.out is None else a.out.resolve()
    # a model directory given relative to the caller's folder still loads after the chdir below
    model = str(Path(a.model).resolve()) if Path(a.model).exists() else a.model
    os.chdir(REPO)
    t0 = time.time()
    doc: dict[str, Any] = {
        "command": f"python benchmarks/track_model_eval.py --model {a.model} --base {a.base} --heldout-windows {a.heldout_windows}",
        "model": a.model, "base_model": a.base,
        "heldout_bits": heldout_bits(model, a.base, a.heldout_windows),
        "benchmarks": [gene_benchmark(model, a.base, *b) for b in BENCHMARKS],
    }
    doc["wall_s"] = round(time.time() - t0)
    text = json_text(doc, indent=1)
    if out is not None:
        atomic_write_text(out, text + "\n", option="--out")
    print(text)


if __name__ == "__main__":
    main()
