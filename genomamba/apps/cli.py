"""``genomamba`` console script: ``train`` / ``finetune`` (Hydra), ``evaluate``, ``score-variants``,
``demo``, ``--version``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from genomamba import __version__
from genomamba.errors import GenomambaError
from genomamba.models.locate import model_help
from genomamba.outputs import atomic_write_text, check_output_path, json_text
from genomamba.progress import done_line

_USAGE = """usage: genomamba [--version] {train,finetune,evaluate,score-variants,mutagenesis,make-variant-benchmark,variant-benchmark,make-relative-track,demo} ...

  train      train a model; Hydra overrides, e.g.
             genomamba train data=fasta data.fasta=/path/genome.fa model=small trainer.max_steps=2000
             (genomamba train --help lists the config groups)
  finetune   fine-tune a classification head; Hydra overrides, e.g.
             genomamba finetune task=species model.path=runs/demo/model
  evaluate   genomamba evaluate MODEL --fasta F: held-out bits per base vs Markov baselines
             (MODEL, as every --model: a run directory, a model directory, a .ckpt or a shipped
             model's name such as ecoli536-hybrid-small)
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
    p.add_argument("model", help=model_help("the model to evaluate"))
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


def _run_evaluate(argv: Sequence[str]) -> int:
    ns = _evaluate_parser().parse_args(argv)  # before the imports: --help is instant
    from genomamba.apps.args import fasta_arg, model_arg
    from genomamba.training.evaluate import evaluate_model  # torch is imported once the arguments are checked

    model_arg(ns.model, "MODEL")
    fasta_arg(ns.fasta)
    fasta_arg(ns.track, "--track")
    if ns.output is not None:
        check_output_path(ns.output, option="--output", inputs={"--fasta": ns.fasta, "--track": ns.track, "MODEL": ns.model})  # before the work
    start = time.perf_counter()
    result = evaluate_model(
        ns.model, ns.fasta, window_length=ns.window_length, val_fraction=ns.val_fraction, seed=ns.seed,
        max_windows=ns.max_windows, orders=ns.orders, alpha=ns.alpha, allow_seen=ns.allow_seen, track=ns.track,
    )
    from genomamba.training.evaluation import format_heldout_report

    text = json_text(result)
    print(text)
    print(format_heldout_report(result), file=sys.stderr)
    if ns.output is not None:
        atomic_write_text(ns.output, text + "\n", option="--output")
    held = result["heldout"]
    what = (f"evaluated {held['n_windows']} held-out windows of {held['window_length']} bp "
            f"({result['model']['n_positions']:,} positions) and {len(result['markov'])} Markov orders")
    print(done_line(what, time.perf_counter() - start), file=sys.stderr)
    return 0


def _run_demo(argv: Sequence[str]) -> int:
    ns = _demo_parser().parse_args(argv)
    from genomamba.apps.demo import run_demo

    run_demo(run_dir=ns.run_dir, overrides=ns.overrides)
    return 0


def _module_main(module: str) -> Callable[[Sequence[str]], int]:
    """A command whose module's ``main(argv)`` returns the exit code; imported when run."""
    return lambda argv: importlib.import_module(module).main(argv)


# The commands, each imported only when run: `genomamba --help` and every command's `--help` and
# argument errors answer before torch is imported. A new command is one line here and one in _USAGE.
_COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "train": lambda argv: importlib.import_module("genomamba.apps.train").run(argv),  # --help: run_app
    "finetune": _module_main("genomamba.apps.finetune"),
    "evaluate": _run_evaluate,
    "score-variants": _module_main("genomamba.apps.score_variants"),
    "mutagenesis": _module_main("genomamba.apps.mutagenesis"),
    "make-variant-benchmark": _module_main("genomamba.apps.make_variant_benchmark"),
    "variant-benchmark": _module_main("genomamba.apps.variant_benchmark"),
    "make-relative-track": _module_main("genomamba.apps.make_relative_track"),
    "demo": _run_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_USAGE)
        return 0 if args else 2
    if args[0] == "--version":
        print(f"genomamba {__version__}")
        return 0
    cmd, rest = args[0], args[1:]
    if cmd not in _COMMANDS:
        print(f"genomamba: unknown command {cmd!r}\n\n{_USAGE}", file=sys.stderr)
        return 2
    if argv is None:  # a real console invocation, not a call from Python
        _maybe_reexec_with_hugepages(cmd)
    if cmd in _HEAVY_COMMANDS:
        from genomamba.apps.quiet import silence_dependency_noise

        silence_dependency_noise()
    try:
        return _COMMANDS[cmd](rest)
    except GenomambaError as e:
        print(f"genomamba: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ngenomamba: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: one line, the traceback in a file
        from genomamba.apps.quiet import crash_line, debugging

        if debugging():
            raise
        print(crash_line(e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
