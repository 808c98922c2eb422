"""``genomamba make-variant-benchmark``: draw the gene-based SNV benchmark
(:mod:`genomamba.downstream.genes.benchmark`) and write ``PREFIX.vcf`` and ``PREFIX.labels.tsv``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from genomamba.errors import ConfigError
from genomamba.progress import done_line

__all__ = ["main"]

# The training data module's default val_fraction: by default the benchmark lies where a model
# trained with the default split never looked, and variant-benchmark fits its Markov baselines on
# the rest of the genome (a whole-genome benchmark would leave them nothing).
DEFAULT_LAST_FRACTION = 0.05


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genomamba make-variant-benchmark",
        description="Gene-based SNV benchmark: Prodigal genes + translation table 11 -> <prefix>.vcf + <prefix>.labels.tsv.",
    )
    p.add_argument("--fasta", required=True, help="genome FASTA (.fa / bgzipped .fa.gz); CHROM = record name")
    p.add_argument("--out-prefix", required=True, help="writes PREFIX.vcf and PREFIX.labels.tsv")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--region", action="append", default=None,
                       help="CHROM or CHROM:START-END (1-based, inclusive); repeatable")
    where.add_argument("--last-fraction", type=float, default=None,
                       help=f"the last FRACTION of every record, as training holds it out (default {DEFAULT_LAST_FRACTION}, "
                            "training's default held-out fraction)")
    p.add_argument("--n-per-class", type=int, default=400, help="SNVs per consequence class (default 400)")
    p.add_argument("--n-uniform-coding", type=int, default=1200,
                   help="extra SNVs drawn uniformly over interior coding positions (codon-position means; default 1200)")
    p.add_argument("--end-margin", type=int, default=20, help="interior codons keep this far from start and stop (default 20)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``genomamba make-variant-benchmark``; raises GenomambaError on bad input (the CLI exits 2)."""
    a = _parser().parse_args(argv)  # before the heavy imports: --help answers at once
    from genomamba.apps.args import fasta_arg

    if Path(a.out_prefix).is_dir() or a.out_prefix.endswith(("/", os.sep)):
        raise ConfigError(f"--out-prefix {a.out_prefix} is a directory; give a file name prefix inside it, e.g. "
                          f"{Path(a.out_prefix) / 'bench'} (writes bench.vcf and bench.labels.tsv there)")
    out_dir = Path(a.out_prefix).parent
    if not out_dir.is_dir():
        raise ConfigError(f"--out-prefix {a.out_prefix}: folder {out_dir} does not exist; create it first")
    fasta_arg(a.fasta)
    from genomamba.outputs import check_output_path

    for suffix in (".vcf", ".labels.tsv"):  # before the gene calls, not after them
        check_output_path(f"{a.out_prefix}{suffix}", option="--out-prefix", inputs={"--fasta": a.fasta})
    start = time.perf_counter()
    from genomamba.data.fasta import GenomeFile
    from genomamba.downstream.genes.benchmark import (
        last_fraction_regions,
        make_gene_benchmark,
        parse_regions,
        write_gene_benchmark,
    )

    genome = GenomeFile(a.fasta)
    if a.region:
        regions = parse_regions(a.region, genome.lengths)
    else:
        a.last_fraction = DEFAULT_LAST_FRACTION if a.last_fraction is None else a.last_fraction
        regions = last_fraction_regions(genome.lengths, a.last_fraction)
    rows, summary = make_gene_benchmark(
        genome, regions, n_per_class=a.n_per_class, n_uniform_coding=a.n_uniform_coding, seed=a.seed,
        end_margin=a.end_margin,
    )
    if not summary["genes_usable"]:
        raise ConfigError(
            f"{a.fasta}: no complete gene in {', '.join(summary['regions'])} ({summary['genes_called']} called by Prodigal "
            f"in {sum(genome.lengths.values()):,} bp), so no gene benchmark; give a genome of a prokaryote with genes "
            "(at least tens of kb), or a larger --last-fraction / --region"
        )
    if not rows:
        raise ConfigError(f"{a.fasta}: no SNV could be drawn in {summary['regions']} ({summary['genes_usable']} usable genes)")
    where = f"--last-fraction {a.last_fraction}" if a.last_fraction is not None else " ".join(
        f"--region {r}" for r in (a.region or []))
    source = (f"genomamba make-variant-benchmark --fasta {Path(a.fasta).name} {where} --n-per-class {a.n_per_class} "
              f"--n-uniform-coding {a.n_uniform_coding} --end-margin {a.end_margin} --seed {a.seed} "
              f"(pyrodigal, translation table 11)").replace("  ", " ")
    vcf, tsv = write_gene_benchmark(rows, genome, a.out_prefix, summary["regions"], source)
    print(done_line(f"wrote {vcf} and {tsv}: {len(rows)} SNVs from {summary['genes_usable']} complete genes "
                    f"(of {summary['genes_called']} called)", time.perf_counter() - start), file=sys.stderr)
    for k, n in summary["drawn"].items():
        print(f"  {k}: {n}", file=sys.stderr)
    for c, n in summary["short_classes"].items():
        print(f"  note: {c} has only {n} candidates in the region (asked for {a.n_per_class})", file=sys.stderr)
    return 0
