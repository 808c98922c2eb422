"""What each training ingredient buys: one change at a time to a base recipe, held-out E. coli 536.

The base recipe is the shipped model's (``ecoli536-hybrid-small``) at a smaller token budget:
Mamba with sliding-window attention (RoPE, window 128) at layers 1 and 3, d_model 128, 4 layers,
1 kb windows, reverse-complement augmentation, AdamW at lr 3e-3 with warm-up and cosine decay,
``--steps`` steps of ``--batch`` windows. Each other row changes exactly one thing:

=================  ===========================================================================
context_256        256 bp windows (4x the batch, so the same tokens per step)
context_4096       4 kb windows (a quarter of the batch)
wider_deeper       d_model 256, 6 layers (attention at 1, 3, 5)
steps_x4           4x the steps (4x the tokens)
constant_lr        no cosine decay (``module.min_lr_ratio=1``)
no_rc_augment      no reverse-complement augmentation
mamba_only         no attention layers
multi_genome       the first 95% of all six bundled genomes instead of E. coli 536 alone
bidirectional      forward + reverse scans, masked-LM objective
codon_rope         one rotary frequency per attention head set to exactly 2*pi/3 (``model.rope_periods=[3]``)
wide_conv          the Mamba layers' causal convolution widened from 4 to 12 bp (four codons)
ssm_period3        two complex states of period exactly 3 bp per channel in every Mamba layer
                   (``model.ssm_periods=[3,3]``): transitions exp(delta a) exp(2 pi i / 3)
mamba_ssm_period3  mamba_only and ssm_period3 together (pair it with ``--base mamba_only``)
codon_rope_ssm_period3  codon_rope and ssm_period3 together (pair it with ``--base codon_rope``)
=================  ===========================================================================

The last three test why the models do not learn the reading frame: neither geometric RoPE (every
frequency <= 1 rad/bp) nor Mamba's real, positive decays can weight positions by their offset
modulo 3, and a 4 bp convolution sees only one codon back (SCIENCE.md, "can the layer represent
period 3?"). Frame learning is read off the codon-position AUROC: uniformly drawn in-gene SNVs
at codon position 3 (mostly synonymous) should score as less damaging than those at 1 and 2.

Every row is evaluated on the same items: bits/base on the held-out last 5% of E. coli 536
(``--eval-windows`` windows of 1 kb, whatever window the row trained on) and zero-shot
nonsense/missense-vs-synonymous and codon-position AUROCs on the gene benchmark of that region
(data/variants/ecoli536_genes_last5pct.*), each with a 95% bootstrap CI, and a paired difference
from the base row (bootstrap over the same windows / variants). The bidirectional row's bits are
a masked-LM pseudo-likelihood, not comparable with the causal rows (its ``comparable`` is false).

Rows run as separate processes, ``--parallel`` at a time: this benchmark measures quality at a
fixed number of steps, not time, so rows may share a machine (the ``train_seconds`` it records
are then not comparable). On a GPU machine all ten rows fit at once.

    python benchmarks/ingredients.py --device cuda --parallel 10 --out benchmarks/results/ingredients_h200.json
    python benchmarks/ingredients.py --only base no_rc_augment --steps 5 --eval-windows 4   # smoke run

``--models NAME=PATH ...`` scores saved models (run directories, ``save_pretrained`` folders or
shipped names) the same way instead of training rows, the one named ``base`` (or ``--base NAME``)
being the row the others are paired with, e.g. a shipped model against a longer run of a new recipe:

    python benchmarks/ingredients.py --models base=ecoli536-hybrid-small codon=runs/ship_codon --out cmp.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from genomamba.outputs import write_json

REPO = Path(__file__).resolve().parents[1]
GENOMES = REPO / "data" / "genomes"
ECOLI = GENOMES / "escherichia_coli_536.fa.gz"
BENCHMARK = REPO / "data" / "variants" / "ecoli536_genes_last5pct"
CONTRASTS = ("nonsense", "missense")


def variants(batch: int, steps: int) -> dict[str, list[str]]:
    """Row name -> the Hydra overrides it adds to the base recipe (one ingredient each)."""
    six = ",".join(str(p) for p in sorted(GENOMES.glob("*.fa.gz")))
    return {
        "base": [],
        "context_256": ["data.window_length=256", f"data.batch_size={batch * 4}"],
        "context_4096": ["data.window_length=4096", f"data.batch_size={max(1, batch // 4)}"],
        "wider_deeper": ["model.d_model=256", "model.n_layer=6", "model.attn_layers=[1,3,5]"],
        "steps_x4": [f"trainer.max_steps={steps * 4}"],
        "constant_lr": ["module.min_lr_ratio=1.0"],
        "no_rc_augment": ["data.rc_augment=false"],
        "mamba_only": ["model.attn_layers=[]"],
        "multi_genome": [f"data.fasta=[{six}]"],
        "bidirectional": ["model.bidirectional=true"],
        "codon_rope": ["model.rope_periods=[3]"],
        "wide_conv": ["model.d_conv=12"],
        "ssm_period3": ["model.ssm_periods=[3,3]"],
        # Two changes: pair it with mamba_only (``--only mamba_only mamba_ssm_period3 --base mamba_only``).
        "mamba_ssm_period3": ["model.attn_layers=[]", "model.ssm_periods=[3,3]"],
        # Two changes: pair it with codon_rope (``--base codon_rope``).
        "codon_rope_ssm_period3": ["model.rope_periods=[3]", "model.ssm_periods=[3,3]"],
    }


def base_overrides(a: argparse.Namespace) -> list[str]:
    return [
        f"data.fasta={ECOLI}", "data.rc_augment=true", "data.window_length=1024", f"data.batch_size={a.batch}",
        "model=hybrid", "model.d_model=128", "model.n_layer=4", "model.attn_layers=[1,3]", "model.attn_window=128",
        "trainer=gpu" if a.device == "cuda" else "trainer=cpu", f"trainer.max_steps={a.steps}",
        f"trainer.max_time={a.max_time}", f"trainer.val_check_interval={max(1, a.steps // 2)}",
        "trainer.limit_val_batches=2", "module.lr=0.003", f"module.warmup_steps={max(1, a.steps // 10)}",
        "eval.max_windows=8", "eval.orders=[2]", f"seed={a.seed}",
    ]


def evaluate_row(run_dir: Path, a: argparse.Namespace) -> dict[str, Any]:
    """Held-out bits/base (per window, for paired CIs) and zero-shot gene-benchmark scores."""
    import torch

    from genomamba.downstream.genes.metrics import evaluate_gene_benchmark
    from genomamba.training.evaluate import heldout_datamodule
    from genomamba.training.evaluation import heldout_windows, training_sequences, window_bits
    from genomamba.training.markov import markov_baselines

    # Every row on the same windows: the shipped split (last 5%, seed 0), whatever the run's config says.
    model, dm, _ = heldout_datamodule(run_dir, ECOLI, window_length=1024, val_fraction=0.05, seed=0)
    model = model.to(a.device).eval()
    windows = heldout_windows(dm, a.eval_windows)
    objective = "causal" if model.config.is_causal else "mlm"
    with torch.no_grad():
        bits, positions = window_bits(model, windows, objective)
    out: dict[str, Any] = {"objective": objective, "comparable": objective == "causal",
                           "window_bits": bits.tolist(), "window_positions": positions.tolist(),
                           "bits_per_base": float(bits.sum() / positions.sum()),
                           "windows_sha1": hashlib.sha1(np.stack(windows).tobytes()).hexdigest(),
                           "n_parameters": sum(p.numel() for p in model.parameters())}
    if a.markov:
        from genomamba.training.markov import MAX_ORDER, scoring_mask  # the positions model_bits scores

        masks = [scoring_mask(w, MAX_ORDER) for w in windows]
        out["markov_bits_per_base"] = {str(k): v for k, v in markov_baselines(
            training_sequences(dm), windows, orders=[2, 6], eval_masks=masks).items()}
    metrics, scores = evaluate_gene_benchmark(model, ECOLI, f"{BENCHMARK}.vcf", f"{BENCHMARK}.labels.tsv", window=512,
                                              orders=[2, 3] if a.markov else [], supervised=False, seed=a.seed)
    out["gene_benchmark"] = {name: {cls: s["auroc_vs_synonymous"].get(cls) for cls in CONTRASTS}
                             for name, s in metrics["scorers"].items()}
    out["variant_scores"] = {name: [None if not np.isfinite(x) else float(x) for x in v] for name, v in scores.items()}
    return out


def worker(name: str, a: argparse.Namespace) -> int:
    """Train one row and write ``<runs-dir>/<name>/ingredient.json``."""
    from genomamba.training.compose import compose_config
    from genomamba.training.train import train

    run_dir = a.runs_dir / name
    overrides = [*base_overrides(a), *variants(a.batch, a.steps)[name], f"run_dir={run_dir}", f"name=ingredient_{name}"]
    t0 = time.perf_counter()
    metrics = train(compose_config(overrides))
    row = {"name": name, "overrides": variants(a.batch, a.steps)[name], "steps": metrics["train"]["global_step"],
           "n_parameters": metrics["train"]["n_parameters"], "train_seconds": round(time.perf_counter() - t0, 1)}
    row.update(evaluate_row(run_dir, a))
    write_json(run_dir / "ingredient.json", row, indent=None)
    return 0


def summarize(
    rows: dict[str, dict[str, Any]], labels_tsv: Path, seed: int = 0, base_name: str = "base"
) -> list[dict[str, Any]]:
    """One table row per ingredient: bits/base and AUROCs with CIs, and paired differences from
    the row ``base_name`` (the ``*_minus_base`` keys)."""
    from genomamba.downstream.genes.benchmark import read_benchmark_labels
    from genomamba.downstream.genes.metrics import codon_position_indices, contrast_indices
    from genomamba.downstream.stats import (
        auroc_ci,
        paired_auroc_difference,
        paired_ratio_difference,
        ratio_ci,
    )

    labels = read_benchmark_labels(labels_tsv)
    base = rows.get(base_name)
    if base is not None and "error" in base:
        base = None

    table = []
    for name, r in rows.items():
        if "error" in r:
            table.append({"name": name, "error": r["error"]})
            continue
        entry: dict[str, Any] = {"name": name, "steps": r["steps"], "n_parameters": r["n_parameters"],
                                 "objective": r["objective"], "comparable": r["comparable"],
                                 "bits_per_base": r["bits_per_base"],
                                 "bits_per_base_ci": ratio_ci(r["window_bits"], r["window_positions"], seed=seed)["ci"]}
        paired = base is not None and name != base_name
        same_windows = paired and r.get("windows_sha1") == base.get("windows_sha1")
        if same_windows and r["comparable"] and len(r["window_bits"]) == len(base["window_bits"]):
            entry["bits_minus_base"] = paired_ratio_difference(
                r["window_bits"], r["window_positions"], base["window_bits"], base["window_positions"], seed=seed)
        score = row_scores(r)
        # A damaging SNV has a low LLR; a codon-position-3 SNV should have a high one.
        contrasts = {cls: (*contrast_indices(labels, cls), -1.0) for cls in CONTRASTS}
        contrasts["codon_position"] = (*codon_position_indices(labels), 1.0)
        for key, (idx, y, sign) in contrasts.items():
            s = sign * score[idx]
            ok = np.isfinite(s)
            entry[f"{key}_auroc"] = auroc_ci(y[ok], s[ok], seed=seed)
            if paired:
                sb = sign * row_scores(base)[idx]
                both = ok & np.isfinite(sb)
                entry[f"{key}_minus_base"] = paired_auroc_difference(y[both], s[both], sb[both], seed=seed)
        entry["missense_within_substitution"] = within_substitution(r, base if paired else None, labels, seed)
        table.append(entry)
    return table


def row_scores(r: dict[str, Any], scorer: str = "model") -> np.ndarray:
    """A row's ``(N,)`` variant scores from one scorer (lower = more damaging), NaN where not scored."""
    return np.array([np.nan if x is None else x for x in r["variant_scores"][scorer]])


def within_substitution(
    r: dict[str, Any], base: dict[str, Any] | None, labels: list[dict[str, Any]], seed: int
) -> dict[str, Any]:
    """Missense vs synonymous AUROC over same-substitution-type pairs only (transitions with
    transitions, transversions with transversions), for the LLR and the shift score, with the
    paired difference from base: what a score knows beyond the transversion rule."""
    from genomamba.downstream.genes.metrics import (
        contrast_indices,
        substitution_type,
        transversion_rule,
    )
    from genomamba.downstream.stats import paired_stratified_auroc_difference, stratified_auroc_ci

    idx, y = contrast_indices(labels, "missense")
    strata = substitution_type(transversion_rule(labels)[idx] < 0)
    out: dict[str, Any] = {}
    for scorer in ("model", "model_shift"):
        if scorer not in r["variant_scores"]:
            continue
        score = -row_scores(r, scorer)[idx]
        ok = np.isfinite(score)
        out[scorer] = stratified_auroc_ci(y[ok], score[ok], strata[ok], seed=seed)
        if base is not None and scorer in base["variant_scores"]:
            sb = -row_scores(base, scorer)[idx]
            both = ok & np.isfinite(sb)
            out[f"{scorer}_minus_base"] = paired_stratified_auroc_difference(
                y[both], score[both], sb[both], strata[both], seed=seed)
    return out


def compare_models(a: argparse.Namespace) -> int:
    """``--models``: score saved models as rows (no training) and write the paired table."""
    specs = [m.partition("=") for m in a.models]
    bad = [m for m, (name, eq, path) in zip(a.models, specs, strict=True) if not (name and eq and path)]
    if bad:
        print(f"ingredients.py: error: --models {bad[0]!r}: write NAME=PATH (a run dir, model dir or shipped name)",
              file=sys.stderr)
        return 2
    rows = {}
    for name, _, path in specs:
        rows[name] = {"steps": None, **evaluate_row(Path(path), a), "model": path}
        print(f"{name} ({path}): {rows[name]['bits_per_base']:.4f} bits/base", flush=True)
    write_table(a, rows, {"models": dict((n, p) for n, _, p in specs)})
    return 0


def write_table(a: argparse.Namespace, rows: dict[str, dict[str, Any]], extra: dict[str, Any]) -> None:
    """Summarize ``rows`` into ``a.out`` (atomically) and print the table."""
    doc = {"benchmark": "ingredients", "settings": {k: str(v) for k, v in vars(a).items() if k != "worker"}, **extra,
           "paired_with": a.base,
           "table": summarize(rows, Path(f"{BENCHMARK}.labels.tsv"), a.seed, a.base),
           "markov_bits_per_base": next((r.get("markov_bits_per_base") for r in rows.values() if "markov_bits_per_base" in r), None),
           "markov_gene_benchmark": next((({k: v for k, v in r["gene_benchmark"].items() if k != "model"})
                                          for r in rows.values() if "gene_benchmark" in r), None)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(a.out, doc)
    print(json.dumps(doc["table"], indent=1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32, help="1 kb windows per step in the base row")
    p.add_argument("--max-time", default="00:00:04:00", help="Lightning max_time per row (a safety stop)")
    p.add_argument("--eval-windows", type=int, default=256)
    p.add_argument("--no-markov", dest="markov", action="store_false", help="skip the Markov baselines")
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--only", nargs="+", help="rows to run (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "ingredients")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ingredients.json")
    p.add_argument("--summarize-only", action="store_true", help="rebuild --out from the rows already in --runs-dir")
    p.add_argument("--models", nargs="+", metavar="NAME=PATH",
                   help="score these saved models instead of training rows (NAME base: the paired reference)")
    p.add_argument("--base", default="base",
                   help="the row every other row is paired with (e.g. mamba_only for mamba_ssm_period3)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    a.runs_dir = a.runs_dir.resolve()
    if a.worker:
        return worker(a.worker, a)
    if a.models:
        return compare_models(a)
    names = a.only or list(variants(a.batch, a.steps))
    if not a.summarize_only:
        pending, running = list(names), {}
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
        a.runs_dir.mkdir(parents=True, exist_ok=True)
        forwarded = ["--device", a.device, "--steps", str(a.steps), "--batch", str(a.batch), "--max-time", a.max_time,
                     "--eval-windows", str(a.eval_windows), "--seed", str(a.seed), "--runs-dir", str(a.runs_dir),
                     *([] if a.markov else ["--no-markov"])]
        while pending or running:
            while pending and len(running) < a.parallel:
                name = pending.pop(0)
                log = open(a.runs_dir / f"{name}.log", "w")
                running[name] = (subprocess.Popen([sys.executable, __file__, "--worker", name, *forwarded],
                                                  stdout=log, stderr=subprocess.STDOUT, env=env), log)
            for name, (proc, log) in list(running.items()):
                if proc.poll() is not None:
                    log.close()
                    print(f"{name}: exit {proc.returncode}", flush=True)
                    del running[name]
            time.sleep(1)
    rows = {}
    for name in names:
        path = a.runs_dir / name / "ingredient.json"
        if path.exists():
            rows[name] = json.loads(path.read_text())
        else:
            log = a.runs_dir / f"{name}.log"
            tail = log.read_text().strip().splitlines()[-1:] if log.exists() else ["no log"]
            rows[name] = {"error": tail[0] if tail else "no output"}
    write_table(a, rows, {"base_recipe": base_overrides(a)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
