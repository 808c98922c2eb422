"""``python -m genomamba.apps.repeat_benchmark {generate,evaluate}``: the rule-labelled repeat
SNV benchmark (:mod:`genomamba.downstream.variants.repeat_benchmark`): write it, or score a model on it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from genomamba.data.fasta import GenomeFile
from genomamba.downstream.variants.repeat_benchmark import (
    evaluate_benchmark,
    generate_repeat_benchmark,
    read_labels,
    write_benchmark,
)
from genomamba.models import GenomambaLM
from genomamba.outputs import atomic_write_text, check_output_path, json_text

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m genomamba.apps.repeat_benchmark {generate,evaluate} ...``."""
    p = argparse.ArgumentParser(prog="python -m genomamba.apps.repeat_benchmark")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write <name>.vcf + <name>.labels.tsv")
    g.add_argument("--fasta", default="data/genomes/escherichia_coli_536.fa.gz")
    g.add_argument("--out-dir", default="data/variants")
    g.add_argument("--name", default="ecoli536_repeat_snvs")
    g.add_argument("--n-per-class", type=int, default=200)
    g.add_argument("--k", type=int, default=16)
    g.add_argument("--min-copies", type=int, default=5)
    g.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("evaluate", help="zero-shot + supervised AUROC/AUPRC as JSON")
    e.add_argument("--model", required=True)
    e.add_argument("--fasta", default="data/genomes/escherichia_coli_536.fa.gz")
    e.add_argument("--labels", default="data/variants/ecoli536_repeat_snvs.labels.tsv")
    e.add_argument("--window", type=int, default=256)
    e.add_argument("--embed-window", type=int, default=128)
    e.add_argument("--classifier", default="logistic", choices=["logistic", "hgb"])
    e.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.cmd == "generate":
        genome = GenomeFile(a.fasta)
        rows = generate_repeat_benchmark(genome, a.n_per_class, a.k, a.min_copies, seed=a.seed)
        src = f"genomamba.downstream.variants.repeat_benchmark k={a.k} min_copies={a.min_copies} n_per_class={a.n_per_class} seed={a.seed}"
        paths = write_benchmark(rows, genome, a.out_dir, a.name, src)
        print(f"wrote {paths[0]} and {paths[1]} ({len(rows)} SNVs)", file=sys.stderr)
        return 0
    if a.out:  # before the work, not after
        check_output_path(a.out, option="--out", inputs={"--fasta": a.fasta, "--labels": a.labels, "--model": a.model})
    model = GenomambaLM.load(a.model)
    res = evaluate_benchmark(model, a.fasta, read_labels(a.labels), a.window, a.embed_window, a.classifier)
    text = json_text(res)
    if a.out:
        atomic_write_text(a.out, text + "\n", option="--out")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
