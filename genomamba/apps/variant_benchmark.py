"""``genomamba variant-benchmark``: metrics of a gene-based SNV benchmark
(:mod:`genomamba.downstream.genes.metrics`) written as metrics.json, scores.tsv,
benchmark.png and report.md."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from genomamba.errors import ConfigError
from genomamba.models.locate import model_help
from genomamba.progress import done_line

__all__ = ["main"]

_OUTPUTS = ("metrics.json", "scores.tsv", "benchmark.png", "report.md")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genomamba variant-benchmark",
        description="Metrics of a gene-based SNV benchmark (genomamba make-variant-benchmark): zero-shot AUROCs and "
                    "codon-position LLRs with 95%% CIs, Markov baselines, supervised model vs k-mer heads.",
    )
    p.add_argument("--model", default=None, help=model_help() + " (omit: baselines only)")
    p.add_argument("--fasta", required=True, help="the genome the benchmark was made from")
    p.add_argument("--benchmark", default=None,
                   help="PREFIX given to make-variant-benchmark (reads PREFIX.vcf and PREFIX.labels.tsv)")
    p.add_argument("--vcf", default=None, help="the benchmark VCF (instead of --benchmark; with --labels)")
    p.add_argument("--labels", default=None, help="the benchmark labels TSV (instead of --benchmark; with --vcf)")
    p.add_argument("--out-dir", required=True, help="writes metrics.json, scores.tsv, benchmark.png and report.md")
    p.add_argument("--scores", default=None, help="use this `genomamba score-variants` TSV instead of scoring again")
    p.add_argument("--window", type=int, default=512, help="zero-shot window in bp (default 512, as score-variants)")
    p.add_argument("--method", choices=("auto", "tiled", "window"), default="auto",
                   help="zero-shot scoring method, as score-variants --method (window: the numbers published before tiled)")
    p.add_argument("--orders", type=int, nargs="+", default=list(range(2, 9)), help="Markov orders (default 2..8)")
    p.add_argument("--relative", default=None, metavar="FASTA",
                   help="a genome of a related species: adds the relative_species conservation reference")
    p.add_argument("--track", default=None, metavar="FASTA",
                   help="the genome's relative track (make-relative-track), for models trained with model.relative_track=true")
    p.add_argument("--no-supervised", action="store_true", help="skip the cross-validated supervised heads")
    p.add_argument("--embed-window", type=int, default=128, help="window of the supervised heads (default 128)")
    p.add_argument("--kmer-k", type=int, default=4, help="k of the k-mer head (default 4)")
    p.add_argument("--cv", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--allow-seen", action="store_true",
                   help="score a model whose training_data.json says it was trained on the benchmark region "
                        "(refused by default: the figures would not be held out); the report records the overlap")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``genomamba variant-benchmark``; raises GenomambaError on bad input (the CLI exits 2)."""
    a = _parser().parse_args(argv)  # before the heavy imports: --help answers at once
    from genomamba.apps.args import fasta_arg, input_file, model_arg
    from genomamba.outputs import check_output_path

    # Argument and file errors answer before torch is imported (seconds).
    if (a.benchmark is None) == (a.vcf is None or a.labels is None) or (a.benchmark and (a.vcf or a.labels)):
        raise ConfigError("give either --benchmark PREFIX or both --vcf and --labels")
    vcf, tsv = (Path(f"{a.benchmark}.vcf"), Path(f"{a.benchmark}.labels.tsv")) if a.benchmark else (Path(a.vcf), Path(a.labels))
    for f in (vcf, tsv):
        if not f.is_file():
            raise ConfigError(f"{f} not found; make the benchmark with `genomamba make-variant-benchmark`")
    model_arg(a.model)
    fasta_arg(a.fasta)
    fasta_arg(a.relative, "--relative")
    fasta_arg(a.track, "--track")
    input_file(a.scores, "--scores", "scores TSV", fix="write it with `genomamba score-variants` on the benchmark VCF")
    out = Path(a.out_dir)
    inputs = {"--fasta": a.fasta, "--vcf": vcf, "--labels": tsv, "--scores": a.scores, "--relative": a.relative,
              "--track": a.track, "--model": a.model}
    for name in _OUTPUTS:  # before the work, not after it
        check_output_path(out / name, option="--out-dir", inputs=inputs)
    start = time.perf_counter()
    import torch

    from genomamba.downstream.genes.benchmark import read_benchmark_labels
    from genomamba.downstream.genes.metrics import evaluate_gene_benchmark
    from genomamba.downstream.genes.report import (
        NOT_LLR,
        plot_benchmark,
        write_benchmark_scores,
        write_report,
    )
    from genomamba.downstream.stats import format_ci
    from genomamba.models import GenomambaLM
    from genomamba.outputs import write_json

    model = None
    if a.model is not None:
        model = GenomambaLM.load(a.model)
        model = model.to(a.device or ("cuda" if torch.cuda.is_available() else "cpu")).eval()
    metrics, scores = evaluate_gene_benchmark(
        model, a.fasta, vcf, tsv, window=a.window, orders=a.orders, scores=a.scores, supervised=not a.no_supervised,
        embed_window=a.embed_window, kmer_k=a.kmer_k, cv=a.cv, seed=a.seed, batch_size=a.batch_size,
        allow_seen=a.allow_seen, relative=a.relative, track=a.track, method=a.method,
    )
    metrics["model"] = a.model
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics, option="--out-dir")
    write_benchmark_scores(read_benchmark_labels(tsv), scores, out / "scores.tsv")
    plot_benchmark(metrics, out / "benchmark.png")
    write_report(metrics, out / "report.md", plot="benchmark.png")
    for name, m in metrics["scorers"].items():
        a_ = m["auroc_vs_synonymous"]
        parts = [f"{c} {format_ci(a_[c]['auroc'], a_[c]['ci'])}" for c in ("nonsense", "missense") if c in a_]
        cp = " / ".join(f"{m['codon_position'][p]['mean']:.3f}" for p in ("1", "2", "3"))
        cp = "" if name in NOT_LLR else f"; mean LLR at codon pos 1/2/3: {cp}"
        within = m.get("auroc_within_substitution", {}).get("missense")
        within = f"; missense within substitution type {format_ci(within['auroc'], within['ci'])}" if within else ""
        print(f"{name}: AUROC vs synonymous: {'; '.join(parts)}{within}{cp}", file=sys.stderr)
    what = f"{metrics['n_variants']:,} SNVs scored by {len(metrics['scorers'])} scorers; wrote {out}/metrics.json, scores.tsv, benchmark.png, report.md"
    print(done_line(what, time.perf_counter() - start), file=sys.stderr)
    return 0
