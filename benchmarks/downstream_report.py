"""Downstream accuracy report for one trained model on the bundled data (prints one JSON document).

Species classification on data/species.tsv for the region-held-out and the strain-held-out
splits at two window lengths: a linear probe on frozen embeddings, a short fine-tune of a pooled
head (``genomamba finetune task=species``), and the k-mer-frequency baseline on the same windows;
then the gene-based variant benchmarks (data/variants/*_genes_last5pct.*): zero-shot AUROCs with
95% CIs beside Markov baselines, and cross-validated model vs k-mer heads.

    python benchmarks/downstream_report.py runs/bundled_long/model --out report.json
    python benchmarks/downstream_report.py runs/demo/model --lengths 256 1024 --finetune-steps 100

This is an accuracy report, not a timed test; the seconds per part are reported for planning.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from genomamba.outputs import atomic_write_text, json_text

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def species_report(model_path: str, lengths: list[int], n_windows: int, finetune_steps: int, seed: int) -> dict:
    from genomamba.api import load
    from genomamba.downstream import probe
    from genomamba.downstream.finetune import compose_finetune, finetune

    model = load(model_path, device="cpu")
    out: dict = {}
    for split in ("region", "strain"):
        t0 = time.perf_counter()
        rep = probe(model, DATA / "species.tsv", window_length=lengths, n_windows=n_windows, split=split, seed=seed, kmer_k=4)
        entry: dict = {"probe_vs_kmer": rep["accuracy"], "chance": rep["chance"], "held_out": rep.get("held_out")}
        entry["probe_seconds"] = round(time.perf_counter() - t0, 1)
        entry["finetune"] = {}
        for length in lengths:
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                cfg = compose_finetune([
                    f"model.path={model_path}", f"run_dir={tmp}", f"paths.data_dir={DATA}", f"seed={seed}",
                    f"task.data.split={split}", f"task.data.window_length={length}",
                    f"trainer.max_steps={finetune_steps}", f"trainer.val_check_interval={finetune_steps}",
                    "trainer.limit_val_batches=2", "trainer.enable_progress_bar=false",
                ])
                m = finetune(cfg)
            entry["finetune"][str(length)] = {
                "accuracy": m["test"]["accuracy"], "macro_f1": m["test"]["macro_f1"],
                "steps": finetune_steps, "seconds": round(time.perf_counter() - t0, 1),
            }
        out[split] = entry
    return out


GENE_BENCHMARKS = {
    "ecoli536_genes_last5pct": "escherichia_coli_536.fa.gz",
    "kpneumoniae_HS11286_genes_last5pct": "klebsiella_pneumoniae_HS11286.fa.gz",
}


def variant_report(model_path: str, seed: int, window: int = 512) -> dict:
    """The gene-based benchmarks (data/variants/*_genes_last5pct.*): zero-shot AUROCs and the codon-position
    AUROC with 95% CIs for the model and each Markov order, the paired model - best Markov difference and the
    CV model vs k-mer heads (genomamba.downstream.genes.metrics)."""
    from genomamba.downstream.genes.metrics import evaluate_gene_benchmark
    from genomamba.models import GenomambaLM

    model = GenomambaLM.load(model_path)
    out: dict = {}
    for name, fasta in GENE_BENCHMARKS.items():
        t0 = time.perf_counter()
        m, _ = evaluate_gene_benchmark(
            model, DATA / "genomes" / fasta, DATA / "variants" / f"{name}.vcf", DATA / "variants" / f"{name}.labels.tsv",
            window=window, seed=seed,
        )
        out[name] = {
            "zero_shot": {
                scorer: {
                    **{f"{c}_vs_synonymous": {"auroc": v["auroc"], "ci": v["ci"]} for c, v in sm["auroc_vs_synonymous"].items()},
                    "codon_position_auroc": {k: sm["codon_position_auroc"][k] for k in ("auroc", "ci")},
                    "mean_llr_codon_position": {p: sm["codon_position"][p]["mean"] for p in ("1", "2", "3")},
                }
                for scorer, sm in m["scorers"].items()
            },
            "model_minus_best_markov": m.get("model_minus_best_markov"),
            "supervised": m.get("supervised"),
            "window": window, "n": m["n_variants"], "seconds": round(time.perf_counter() - t0, 1),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="save_pretrained directory, run directory or .ckpt")
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--n-windows", type=int, default=64, help="training windows per species for the probe")
    p.add_argument("--finetune-steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-species", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    report: dict = {"model": a.model, "lengths": a.lengths, "seed": a.seed}
    if not a.skip_species:
        report["species"] = species_report(a.model, a.lengths, a.n_windows, a.finetune_steps, a.seed)
    report["variant_effect"] = variant_report(a.model, a.seed)
    text = json_text(report)
    if a.out:
        atomic_write_text(a.out, text + "\n", option="--out")
    print(text)


if __name__ == "__main__":
    main()
