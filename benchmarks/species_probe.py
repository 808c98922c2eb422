"""Strain-held-out species probe of one model against k-mer baselines, over several window seeds
(prints one JSON document; an accuracy report, not a timed test).

For each seed, :func:`genomamba.downstream.species.probe` picks the held-out strains (unless named with
``--test-strains``) and draws the windows, fits a logistic regression on the model's mean-pooled
embeddings and one on k-mer frequencies of the same windows, and compares them on the same test
windows (paired bootstrap CI and McNemar p).

    python benchmarks/species_probe.py bacteria4-hybrid-d256 --lengths 256 1024 --n-windows 128 --seeds 0 1 \\
        --test-strains "Klebsiella pneumoniae=MGH 78578" "Staphylococcus aureus=N315"
    python benchmarks/species_probe.py bacteria4-hybrid-d256 --lengths 1024 --n-windows 512 --seeds 0 1 \\
        --test-strains "Klebsiella pneumoniae=MGH 78578" "Staphylococcus aureus=N315"

About 12 and 22 min per seed on the 2-core CPU. Name the test strains whenever the model was
pretrained on some strains of the table: bacteria4-hybrid-d256 saw HS11286 and JH1, and the seed
alone holds one of those out for some seeds (seed 1: HS11286), which is not held out for the model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def summarise(report: dict[str, Any], kmer_k: int = 6) -> dict[str, Any]:
    """One seed's probe report (``probe(...)`` output) in the stored form: per window length the
    probe's and the k-mer baselines' accuracies with 95% Wilson CIs, and probe − ``kmer_k``-mer."""
    out: dict[str, Any] = {"seed": report["seed"], "held_out": report["held_out"],
                           "pretraining_overlap": report.get("pretraining_overlap")}
    for entry in report["results"]:
        row: dict[str, Any] = {
            "probe": entry["probe"]["accuracy"], "probe_ci": entry["probe"]["accuracy_ci"],
            "confusion_matrix": entry["probe"]["confusion_matrix"],
        }
        for key, metrics in entry["kmer"].items():  # "k=4", "k=6"
            k = key.split("=")[1]
            row[f"kmer{k}"] = metrics["accuracy"]
            row[f"kmer{k}_ci"] = metrics["accuracy_ci"]
        row["diff"] = entry["probe_vs_kmer"][f"k={kmer_k}"]
        row["n_train"], row["n_test"] = entry["n_train"], entry["n_test"]
        out[str(entry["window_length"])] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="pretrained name or model path (genomamba.load)")
    ap.add_argument("--genomes", default=str(REPO / "data" / "species.tsv"))
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--n-windows", type=int, default=128, help="training windows per species")
    ap.add_argument("--n-test-windows", type=int, default=150, help="test windows per species")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument(
        "--test-strains", nargs="+", default=[], metavar="SPECIES=STRAIN",
        help="strains to hold out whatever the seed, e.g. 'Klebsiella pneumoniae=MGH 78578': the ones the model never saw",
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()

    import genomamba
    from genomamba.data.species_table import parse_test_strains
    from genomamba.downstream.species.probe import probe
    from genomamba.errors import ConfigError
    from genomamba.outputs import json_text, write_json

    try:
        test_strains = parse_test_strains(args.test_strains) or None
    except ConfigError as e:
        ap.error(f"--test-strains: {e}")
    model = genomamba.load(args.model)
    doc: dict[str, Any] = {
        "model": args.model,
        "command": (
            f"probe({args.model!r}, {Path(args.genomes).name!r}, window_length={args.lengths}, "
            f"n_windows={args.n_windows}, split='strain', n_test_windows={args.n_test_windows}, "
            f"kmer_k=[4, 6], test_strains={test_strains}, seed=SEED)"
        ),
        "seeds": [],
    }
    for seed in args.seeds:
        t0 = time.perf_counter()
        report = probe(
            model, args.genomes, window_length=args.lengths, n_windows=args.n_windows, split="strain",
            n_test_windows=args.n_test_windows, kmer_k=[4, 6], test_strains=test_strains, seed=seed,
        )
        doc["seeds"].append({**summarise(report), "wall_s": round(time.perf_counter() - t0)})
        if args.out is not None:  # after every seed, so a long run keeps what it has
            write_json(args.out, doc, indent=1)
    print(json_text(doc, indent=1))


if __name__ == "__main__":
    main()
