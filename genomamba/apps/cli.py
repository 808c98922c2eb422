"""``genomamba`` console script: ``train`` / ``finetune`` (Hydra), ``evaluate``, ``score-variants``,
``demo``, ``--version``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from genomamba import __version__
from genomamba.errors import GenomambaError
from genomamba.outputs import atomic_write_text, check_output_path

_USAGE = """usage: genomamba [--version] {train,finetune,evaluate,score-variants,mutagenesis,make-variant-benchmark,variant-benchmark,make-relative-track,demo} ...

  train      train a model; Hydra overrides, e.g.
             genomamba train data=fasta data.fasta=/path/genome.fa model=small trainer.max_steps=2000
             (genomamba train --help lists the config groups)
  finetune   fine-tune a classification head; Hydra overrides, e.g.
             genomamba finetune task=species model.path=runs/demo/model
  evaluate   genomamba evaluate MODEL --fasta F: held-out bits per base vs Markov baselines
  score-variants
             genomamba score-variants --model M --fasta ref.fa --vcf in.vcf[.gz] --out scores.tsv
             zero-shot variant-effect scores (causal LLR or masked logit difference, both strands)
  mutagenesis
             genomamba mutagenesis --model M --fasta ref.fa --region CHROM:START-END --out-dir out
             every SNV of a region (1-based, inclusive): tables, bigWig/bedGraph tracks, heatmap
  make-variant-benchmark
             genomamba make-variant-benchmark --fasta G.fa --out-prefix out/bench --last-fraction 0.05
             gene-based SNV benchmark (Prodigal genes, table 11 consequences): VCF + labels TSV
  variant-benchmark
             genomamba variant-benchmark --model M --fasta G.fa --benchmark out/bench --out-dir results
             zero-shot AUROCs with 95% CIs, codon-position LLRs, Markov and k-mer baselines
  make-relative-track
             genomamba make-relative-track --fasta G.fa --relative R.fa --out G.track.fa
             a related genome's bases aligned to G's genes (protein alignment), for relative-track models
  demo       train the tiny model on the bundled genome on CPU and evaluate it
"""


# Commands that push long sequences through the model on CPU.
_HEAVY_COMMANDS = ("train", "finetune", "evaluate", "score-variants", "mutagenesis", "variant-benchmark", "demo")
_HUGEPAGE_TUNABLE = "glibc.malloc.hugetlb=1"


def _maybe_reexec_with_hugepages(cmd: str) -> None:
    """Re-run this command once with glibc's transparent-huge-page malloc tunable set.

    Activations of long windows are tensors of 100+ MB that glibc serves with fresh mmaps, so
    every op page-faults its output in 4 KiB at a time: at L=65536 this is a third of a CPU
    training step (22M faults per step, measured). ``glibc.malloc.hugetlb=1`` (glibc >= 2.35)
    makes those mappings use 2 MiB pages. Tunables are read at process start, hence the
    re-exec; it happens before torch is imported. Opt out with GENOMAMBA_MALLOC_HUGEPAGES=0;
    an existing GLIBC_TUNABLES is left alone.
    """
    if (
        cmd not in _HEAVY_COMMANDS
        or not sys.platform.startswith("linux")
        or "GLIBC_TUNABLES" in os.environ
        or os.environ.get("GENOMAMBA_MALLOC_HUGEPAGES", "1") == "0"
        or not Path(sys.argv[0]).is_file()
    ):
        return
    env = dict(os.environ, GLIBC_TUNABLES=_HUGEPAGE_TUNABLE)
    try:
        os.execve(sys.executable, [sys.executable, sys.argv[0], *sys.argv[1:]], env)
    except OSError:
        return  # run on without the tunable


def _evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genomamba evaluate", description="Held-out bits per base vs order-k Markov baselines (JSON on stdout).")
    p.add_argument("model", help="save_pretrained directory, run directory or Lightning .ckpt")
    p.add_argument("--fasta", required=True, help="FASTA (.fa/.fa.gz) to evaluate on")
    p.add_argument("--window-length", type=int, default=None, help="window length (default: the run's, else 1024)")
    p.add_argument("--val-fraction", type=float, default=None, help="held-out fraction (default: the run's, else 0.05)")
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the run's, else 0)")
    p.add_argument("--max-windows", type=int, default=None, help="cap on held-out windows scored (default: the run's eval.max_windows, else 256)")
    p.add_argument("--orders", type=int, nargs="+", default=list(range(1, 9)), help="Markov orders (1..8)")
    p.add_argument("--alpha", type=float, default=0.5, help="Markov additive smoothing (0.5 = KT, 1 = Laplace)")
    p.add_argument("--track", default=None, help="the FASTA's relative track (make-relative-track), for relative-track models")
    p.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--allow-seen", action="store_true",
                   help="evaluate held-out windows the model trained on (refused by default); the JSON records the overlap")
    return p


def _demo_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genomamba demo", description="Train the tiny model on the bundled genome and evaluate it.")
    p.add_argument("--run-dir", type=Path, default=None, help="output directory (default: runs/demo; an earlier demo run there is replaced)")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. trainer.max_steps=100")
    return p


def _run_train(argv: Sequence[str]) -> int:
    from genomamba.apps import train as app
    from genomamba.apps.hydra_app import run_hydra_main

    problem = app.preflight(argv)
    if problem is not None:  # before Hydra creates the run directory
        print(f"genomamba: error: {problem}", file=sys.stderr)
        return 2
    run_hydra_main(app.__file__, app.main, argv)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_USAGE)
        return 0 if args else 2
    if args[0] == "--version":
        print(f"genomamba {__version__}")
        return 0
    cmd, rest = args[0], args[1:]
    if argv is None:  # a real console invocation, not a call from Python
        _maybe_reexec_with_hugepages(cmd)
    if cmd in _HEAVY_COMMANDS:
        from genomamba.apps.quiet import silence_dependency_noise

        silence_dependency_noise()
    try:
        if cmd == "train":
            return _run_train(rest)
        if cmd == "finetune":
            from genomamba.apps.finetune import main as finetune_main

            return finetune_main(rest)
        if cmd == "score-variants":
            from genomamba.apps.score_variants import main as score_variants_main

            return 2 if score_variants_main(rest) else 0
        if cmd == "mutagenesis":
            from genomamba.apps.mutagenesis import main as mutagenesis_main

            return mutagenesis_main(rest)
        if cmd == "make-variant-benchmark":
            from genomamba.apps.make_variant_benchmark import main as make_variant_benchmark_main

            return make_variant_benchmark_main(rest)
        if cmd == "make-relative-track":
            from genomamba.apps.make_relative_track import main as make_relative_track_main

            return make_relative_track_main(rest)
        if cmd == "variant-benchmark":
            from genomamba.apps.variant_benchmark import main as variant_benchmark_main

            return variant_benchmark_main(rest)
        if cmd == "evaluate":
            ns = _evaluate_parser().parse_args(rest)  # before the imports: --help is instant
            from genomamba.training.evaluate import evaluate_model

            if ns.output is not None:
                check_output_path(ns.output, option="--output")  # before the work, not after
            result = evaluate_model(
                ns.model, ns.fasta, window_length=ns.window_length, val_fraction=ns.val_fraction, seed=ns.seed,
                max_windows=ns.max_windows, orders=ns.orders, alpha=ns.alpha, allow_seen=ns.allow_seen, track=ns.track,
            )
            from genomamba.training.evaluation import format_heldout_report

            text = json.dumps(result, indent=2)
            print(text)
            print(format_heldout_report(result), file=sys.stderr)
            if ns.output is not None:
                atomic_write_text(ns.output, text + "\n", option="--output")
            return 0
        if cmd == "demo":
            ns = _demo_parser().parse_args(rest)
            from genomamba.apps.demo import run_demo

            run_demo(run_dir=ns.run_dir, overrides=ns.overrides)
            return 0
    except GenomambaError as e:
        print(f"genomamba: error: {e}", file=sys.stderr)
        return 2
    print(f"genomamba: unknown command {cmd!r}\n\n{_USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
