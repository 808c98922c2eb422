"""Downstream accuracy report for one trained model on the bundled data (prints one JSON document).

Species classification on data/species.tsv for the region-held-out and the strain-held-out
splits at two window lengths: a linear probe on frozen embeddings, a short fine-tune of a pooled
head (``genomamba finetune task=species``), and the k-mer-frequency baseline on the same windows;
then the variant-effect benchmark (data/variants/ecoli536_repeat_snvs.*): zero-shot AUROC and
cross-validated supervised AUROC.

    python benchmarks/downstream_report.py runs/bundled_long/model --out report.json
    python benchmarks/downstream_report.py runs/demo/model --lengths 256 1024 --finetune-steps 100

This is an accuracy report, not a timed test; the seconds per part are reported for planning.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

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


def variant_report(model_path: str, seed: int) -> dict:
    from genomamba.downstream.variant_benchmark import evaluate_benchmark, read_labels
    from genomamba.training.evaluate_cli import load_model

    t0 = time.perf_counter()
    model, _ = load_model(model_path)
    res = evaluate_benchmark(
        model, DATA / "genomes" / "escherichia_coli_536.fa.gz", read_labels(DATA / "variants" / "ecoli536_repeat_snvs.labels.tsv"),
        window=256, embed_window=128, seed=seed,
    )
    sup = res["supervised"]
    return {
        "zero_shot_auroc": res["zero_shot"]["auroc"], "zero_shot_auprc": res["zero_shot"]["auprc"],
        "supervised_auroc": sup["auroc"], "supervised_auprc": sup["auprc"], "supervised_auroc_fold_std": sup["auroc_fold_std"],
        "supervised_embeddings_only_auroc": res["supervised_embeddings_only"]["auroc"],
        "n": res["n"], "seconds": round(time.perf_counter() - t0, 1),
    }


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
    text = json.dumps(report, indent=2)
    if a.out:
        a.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
