"""``genomamba mutagenesis``: in-silico saturation mutagenesis of a region (every SNV scored), written
as tables, genome-browser tracks and a heatmap over the region's genes."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from genomamba.errors import ConfigError, GenomambaError
from genomamba.models.locate import model_help

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genomamba mutagenesis",
        description="Score all three SNVs at every base of a region (zero-shot LLR, influence and hidden-state shift, "
                    "both strands; causal models by exact state reuse) and write scores.tsv, scores.parquet, "
                    "per-base bedGraph and bigWig tracks, heatmap.png (over the region's Prodigal genes) and run.json.",
    )
    p.add_argument("--model", required=True, help=model_help())
    p.add_argument("--fasta", required=True, help="reference FASTA (.fa / bgzipped .fa.gz)")
    p.add_argument("--region", required=True,
                   help="CHROM:START-END, 1-based and inclusive as in samtools (e.g. chr1:1001-2000 is 1,000 bp)")
    p.add_argument("--out-dir", required=True, help="output folder (created); an interrupted run there resumes")
    p.add_argument("--track", default=None,
                   help="the reference's relative track (make-relative-track), for models trained with model.relative_track=true")
    p.add_argument("--window", type=int, default=512,
                   help="score window W in bp, as score-variants --window (default 512)")
    p.add_argument("--method", choices=("auto", "tiled", "window"), default="auto",
                   help="auto (default): tiled for causal models, window for bidirectional / RC models; see docs/mutagenesis.md")
    p.add_argument("--batch-size", type=int, default=None,
                   help="ALT runs (or windows) per forward pass (default: 8 for the tiled method on CPU, else 64)")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--no-genes", action="store_true", help="draw no gene track (skips the Prodigal gene calls)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``genomamba mutagenesis``: returns 0 on success; bad input raises GenomambaError (the CLI exits 2)."""
    args = _parser().parse_args(argv)  # before the heavy imports (torch): --help answers at once
    from genomamba.apps.args import fasta_arg, model_arg

    model_arg(args.model)  # argument and file errors answer before torch is imported (seconds)
    fasta_arg(args.fasta)
    fasta_arg(args.track, "--track")
    from genomamba.data.fasta import GenomeFile
    from genomamba.data.tracks import open_track
    from genomamba.devices import resolve_device
    from genomamba.downstream.variants import mutagenesis as mg
    from genomamba.downstream.variants.scoring import resolve_method
    from genomamba.models import GenomambaLM
    from genomamba.outputs import check_output_path
    from genomamba.progress import progress as progress_bar

    # Everything that can be refused is checked before anything is written.
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.window < 2:
        raise ConfigError(f"--window must be >= 2 bp, got {args.window}")
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out-dir {out_dir} is a file; give a folder")
    check_output_path(out_dir / "scores.tsv", option="--out-dir",
                      inputs={"--fasta": args.fasta, "--track": args.track, "--model": args.model})
    device = resolve_device(args.device, option="--device")
    genome = GenomeFile(args.fasta)
    region = mg.parse_region(args.region, genome)
    model = GenomambaLM.load(args.model).to(device).eval()
    model.config.check_track_input(args.track, args.model)
    track = None if args.track is None else open_track(args.track, genome, option="--track")
    method = resolve_method(model, args.method, option="--method")
    snvs = 3 * sum(b in mg.BASES for b in genome.fetch(region.chrom, region.start, region.end).upper())
    key = mg.run_key(f"{args.model}#{mg.model_fingerprint(model)}", genome, region, args.window, method, args.track)
    partial = mg.PartialResults(out_dir / ".mutagenesis-partial", key)
    started = time.perf_counter()
    with progress_bar(2 * snvs, "scoring SNVs", "SNV strands") as advance:  # each SNV once per strand
        rows = mg.saturation_mutagenesis(model, genome, region, window=args.window, batch_size=args.batch_size,
                                         track=track, method=method, partial=partial, progress=advance)
    seconds = time.perf_counter() - started
    genes = [] if args.no_genes else _genes_in_region(genome, region)
    meta = {"model": str(args.model), "fasta": str(args.fasta), "track": args.track, "window": args.window,
            "method": method, "device": str(device), "seconds": round(seconds, 1),
            "snvs_per_second": round(len(rows) / seconds, 2) if seconds > 0 else None,
            "genes": [g.id for g in genes]}
    mg.write_outputs(rows, region, genome, out_dir, meta, genes)
    partial.remove()
    n_ok = sum(r["status"] == "ok" for r in rows)
    print(f"scored {n_ok} of {len(rows)} SNVs of {region} ({method} method, {seconds:.0f} s); wrote scores.tsv, "
          f"scores.parquet, {', '.join(mg.SUMMARIES)} (.bedGraph, .bw), heatmap.png, run.json to {out_dir}",
          file=sys.stderr)
    return 0


def _genes_in_region(genome, region):  # type: ignore[no-untyped-def]
    """Prodigal genes of the whole genome (as the gene benchmark calls them) overlapping ``region``."""
    from genomamba.downstream.genes.consequences import call_genes

    return [g for g in call_genes(genome) if g.chrom == region.chrom and g.end > region.start and g.start < region.end]


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GenomambaError as e:
        print(f"genomamba: error: {e}", file=sys.stderr)
        sys.exit(2)
