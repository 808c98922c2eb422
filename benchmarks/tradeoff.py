"""Efficiency against effectiveness at equal CPU wall-clock: Mamba, hybrid and Transformer.

Each architecture has the same width and depth (``--d-model``, ``--n-layer``):

- ``mamba``: every layer a Mamba mixer;
- ``hybrid``: Mamba with sliding-window attention (RoPE, window ``--attn-window``) at layers 1 and 3;
- ``transformer``: every layer causal attention over the whole window (``attn_window`` = window).

Each (architecture, window length) is trained on E. coli 536 (region split: the last 5% is held
out) for the largest budget; Lightning's ``max_time`` stops it, and the run is resumed from
``last.ckpt`` (the timer is part of the checkpoint) so that every smaller budget gets its own
evaluation on the way. After each budget: held-out bits/base next to Markov orders 2 and 8 (on the
same positions) and the zero-shot nonsense/missense vs synonymous AUROCs (95% bootstrap CIs) on
the gene benchmark of the same held-out region (data/variants/ecoli536_genes_last5pct.*), next to
the best Markov scorers there (order 3 for nonsense, order 2 for missense).

Runs are sequential and the machine must be otherwise idle: the budget is wall-clock time, so
anything else running takes throughput away from the run being measured.

    python benchmarks/tradeoff.py --budgets 10 30 --lengths 1024 4096 --out benchmarks/results/tradeoff.json
    python benchmarks/tradeoff.py --cached-only   # rewrite the JSON and plot from the points measured so far

Prints one JSON document (also written to ``--out``) and draws ``--plot`` (quality against
training time). This is a benchmark, not a test: no CI job runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from genomamba.outputs import json_text, write_json

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
ECOLI = DATA / "genomes" / "escherichia_coli_536.fa.gz"
BENCHMARK = DATA / "variants" / "ecoli536_genes_last5pct"
ARCHS = ("mamba", "hybrid", "transformer")


def arch_overrides(arch: str, n_layer: int, window_length: int, attn_window: int) -> list[str]:
    """Hydra overrides that make ``arch`` at the shared width and depth."""
    if arch == "mamba":
        return ["model.attn_layers=[]"]
    if arch == "hybrid":
        return [f"model.attn_layers=[{','.join(str(i) for i in range(1, n_layer, 2))}]", f"model.attn_window={attn_window}"]
    if arch == "transformer":
        return [f"model.attn_layers=[{','.join(str(i) for i in range(n_layer))}]", f"model.attn_window={window_length}"]
    raise ValueError(f"unknown architecture {arch!r}; choose from {ARCHS}")


def train_for(run_dir: Path, overrides: list[str], minutes: float, resume: bool) -> dict[str, Any]:
    """Train until ``minutes`` of wall-clock in total (resuming the run when asked)."""
    from genomamba.training.compose import compose_config
    from genomamba.training.train import train

    h, m = divmod(int(round(minutes * 60)), 3600)
    cfg = compose_config([
        *overrides, f"run_dir={run_dir}", f"trainer.max_time=00:{h:02d}:{m // 60:02d}:{m % 60:02d}",
        *(["ckpt_path=last"] if resume else []),
    ])
    return train(cfg)


def contrast_labels(out_dir: Path) -> Path:
    """The benchmark's labels TSV cut to the rows the two AUROCs use (stratified nonsense, missense and
    synonymous SNVs): a third of the variants, so a CPU evaluation takes about a minute, not three."""
    from genomamba.downstream.genes.benchmark import read_benchmark_labels
    from genomamba.downstream.genes.metrics import contrast_indices

    source = Path(f"{BENCHMARK}.labels.tsv")
    labels = read_benchmark_labels(source)
    keep = sorted({int(i) for cls in ("nonsense", "missense") for i in contrast_indices(labels, cls)[0]})
    lines = source.read_text().splitlines()  # a header, then one line per label, in order
    path = out_dir / "contrast_labels.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([lines[0], *(lines[1 + i] for i in keep)]) + "\n")
    return path


def gene_aurocs(run_dir: Path, seed: int) -> dict[str, Any]:
    """Zero-shot nonsense and missense vs synonymous AUROCs of the run's model on the contrast rows
    of the held-out gene benchmark, next to Markov orders 2 and 3 on the same SNVs."""
    from genomamba.downstream.genes.metrics import evaluate_gene_benchmark
    from genomamba.models import GenomambaLM

    model = GenomambaLM.load(run_dir)
    genes, _ = evaluate_gene_benchmark(model, ECOLI, f"{BENCHMARK}.vcf", contrast_labels(run_dir.parent), window=512,
                                       orders=[2, 3], supervised=False, seed=seed)
    aurocs = {cls: genes["scorers"]["model"]["auroc_vs_synonymous"].get(cls) for cls in ("nonsense", "missense")}
    return {
        "zero_shot_auroc": aurocs,
        # orders 3 and 2 are the best Markov scorers for nonsense and missense on this benchmark
        "markov_auroc": {f"k{k}": {cls: genes["scorers"][f"markov_k{k}"]["auroc_vs_synonymous"].get(cls) for cls in aurocs}
                         for k in (2, 3)},
    }


def heldout_bits(run_dir: Path, window_length: int, eval_bases: int, seed: int) -> dict[str, Any]:
    """Held-out bits/base of the run's current model, scored once: pooled, with a bootstrap CI, and
    kept per window (for paired differences between architectures), next to Markov orders 2 and 8
    fitted on the run's training split and scored on the same positions. The windows are the ones
    ``evaluate_model`` scores with the same settings."""
    from genomamba.downstream.stats import ratio_ci
    from genomamba.training.evaluate import heldout_datamodule
    from genomamba.training.evaluation import heldout_windows, training_sequences, window_bits
    from genomamba.training.markov import MAX_ORDER, markov_baselines, scoring_mask

    model, dm, _ = heldout_datamodule(run_dir, ECOLI, window_length=window_length)
    windows = heldout_windows(dm, max(1, eval_bases // window_length))
    bits, positions = window_bits(model, windows)
    markov = markov_baselines(training_sequences(dm), windows, orders=[2, 8],
                              eval_masks=[scoring_mask(w, MAX_ORDER) for w in windows])
    return {"bits_per_base": float(bits.sum() / positions.sum()),
            "bits_per_base_ci": ratio_ci(bits, positions, seed=seed)["ci"],
            "markov_bits_per_base": {str(k): v for k, v in markov.items()}, "heldout_windows": len(windows),
            "window_bits": bits.tolist(), "window_positions": positions.tolist()}


def paired_against(results: list[dict[str, Any]], reference: str = "hybrid", seed: int = 0) -> list[dict[str, Any]]:
    """Held-out bits/base of each architecture minus ``reference``'s at the same window length and
    budget, paired over the same windows (95% bootstrap CI)."""
    from genomamba.downstream.stats import paired_ratio_difference

    out = []
    refs = {(r["window_length"], p["minutes"]): p for r in results if r["arch"] == reference for p in r["points"]}
    for r in results:
        for p in r["points"]:
            ref = refs.get((r["window_length"], p["minutes"]))
            if r["arch"] == reference or ref is None or "window_bits" not in p or "window_bits" not in ref:
                continue
            d = paired_ratio_difference(p["window_bits"], p["window_positions"], ref["window_bits"],
                                        ref["window_positions"], seed=seed)
            out.append({"arch": r["arch"], "minus": reference, "window_length": r["window_length"],
                        "minutes": p["minutes"], **d})
    return out


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for r in results:
        xs = [p["minutes"] for p in r["points"]]
        label = f"{r['arch']} {r['window_length'] // 1024} kb"
        style = "-" if r["window_length"] <= 1024 else "--"
        bpb = [p["bits_per_base"] for p in r["points"]]
        lo_hi = [p.get("bits_per_base_ci", [p["bits_per_base"]] * 2) for p in r["points"]]
        err = [[b - ci[0] for b, ci in zip(bpb, lo_hi, strict=True)], [ci[1] - b for b, ci in zip(bpb, lo_hi, strict=True)]]
        ax1.errorbar(xs, bpb, yerr=err, fmt=style, marker="o", capsize=3, label=label)
        ax2.plot(xs, [p["zero_shot_auroc"]["nonsense"]["auroc"] for p in r["points"]], style, marker="o", label=label)
    if results and results[0]["points"]:
        for k, ls in (("2", ":"), ("8", "-.")):
            ax1.axhline(results[0]["points"][0]["markov_bits_per_base"][k], color="grey", ls=ls, label=f"Markov order {k}")
    ax1.set(xlabel="CPU training time (min)", ylabel="held-out bits/base (lower is better)",
            title="E. coli 536, last 5% held out")
    ax2.axhline(0.5, color="grey", ls=":")
    ax2.set(xlabel="CPU training time (min)", ylabel="zero-shot AUROC", title="nonsense vs synonymous (held-out genes)")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096])
    p.add_argument("--budgets", type=float, nargs="+", default=[10, 30], help="wall-clock minutes (ascending)")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--attn-window", type=int, default=128)
    p.add_argument("--tokens-per-step", type=int, default=8192, help="batch size = this / window length")
    p.add_argument("--eval-bases", type=int, default=131072, help="held-out bases scored per evaluation")
    p.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "tradeoff")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "tradeoff.json")
    p.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "results" / "tradeoff.png")
    p.add_argument("--cached-only", action="store_true",
                   help="train nothing: write --out and --plot from the points already measured in --runs-dir")
    a = p.parse_args()
    budgets = sorted(a.budgets)
    results = []
    for length in a.lengths:
        for arch in a.archs:
            run_dir = a.runs_dir / f"{arch}_{length}"
            overrides = [
                f"data.fasta={ECOLI}", f"data.window_length={length}", f"data.batch_size={max(1, a.tokens_per_step // length)}",
                "model=tiny", f"model.d_model={a.d_model}", f"model.n_layer={a.n_layer}",
                *arch_overrides(arch, a.n_layer, length, a.attn_window),
                "trainer=cpu", "trainer.max_steps=1000000", "trainer.val_check_interval=200", "trainer.limit_val_batches=2",
                "module.lr=0.003", "module.warmup_steps=200", "eval.max_windows=8", "eval.orders=[2]",
                f"seed={a.seed}", f"name=tradeoff_{arch}_{length}",
            ]
            points = []
            for i, minutes in enumerate(budgets):
                cached = run_dir / f"point_{minutes:g}min.json"
                if cached.exists():  # measured by an earlier invocation; a larger budget resumes from it
                    point = json.loads(cached.read_text())
                    if "window_bits" not in point and minutes == budgets[-1]:  # measured before per-window bits
                        point.update(heldout_bits(run_dir, length, a.eval_bases, a.seed))  # the model is this budget's
                        write_json(cached, point, indent=None)
                    points.append(point)
                    continue
                if a.cached_only:
                    break
                load_before = os.getloadavg()[0]
                metrics = train_for(run_dir, overrides, minutes, resume=i > 0 or (run_dir / "checkpoints" / "last.ckpt").exists())
                t0 = time.perf_counter()
                point = {"minutes": minutes, "steps": metrics["train"]["global_step"],
                         "tokens": metrics["train"]["global_step"] * a.tokens_per_step,
                         "n_parameters": metrics["train"]["n_parameters"],
                         # 1-minute load average before and after training: ~threads of this run alone
                         # on an idle machine; more means something else shared the CPU.
                         "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                         **heldout_bits(run_dir, length, a.eval_bases, a.seed), **gene_aurocs(run_dir, a.seed)}
                point["eval_seconds"] = round(time.perf_counter() - t0, 1)
                write_json(cached, point, indent=None)
                points.append(point)
                print(json.dumps({"arch": arch, "window_length": length, **point}), flush=True)
            results.append({"arch": arch, "window_length": length, "points": points})
    doc = {
        "benchmark": "tradeoff", "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
        "results": results,
        "bits_per_base_minus_hybrid": paired_against(results, "hybrid", a.seed),
    }
    write_json(a.out, doc)
    plot(results, a.plot)
    for r in results:  # the per-window arrays stay in --out only
        for p in r["points"]:
            p.pop("window_bits", None), p.pop("window_positions", None)
    print(json_text(doc))


if __name__ == "__main__":
    main()
