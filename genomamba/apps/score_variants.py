"""``genomamba score-variants``: zero-shot variant-effect scores of a VCF, written as a TSV, and
with labels (a TSV or a VCF INFO key) their AUROC / AUPRC."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from genomamba.errors import ConfigError, ContigError, GenomambaError, VCFError
from genomamba.models.locate import model_help
from genomamba.progress import done_line

if TYPE_CHECKING:
    from genomamba.data.fasta import GenomeFile
    from genomamba.downstream.variants.labels import VariantKey
    from genomamba.downstream.variants.vcf import Variant

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genomamba score-variants",
        description="Zero-shot variant-effect scores (causal LLR or GPN masked logit difference, both strands), "
                    "plus each SNV's hidden-state shift and, for causal models, its influence on the next-base predictions.",
    )
    p.add_argument("--model", required=True, help=model_help())
    p.add_argument("--fasta", required=True, help="reference FASTA (.fa / bgzipped .fa.gz)")
    p.add_argument("--vcf", required=True, help="input VCF (.vcf or bgzipped .vcf.gz)")
    p.add_argument("--out", required=True, help="output TSV")
    p.add_argument("--window", type=int, default=512,
                   help="score window W in bp (default 512): centred on the variant (--method window), or the tile "
                        "length of the tiled context whose second half is scored (--method tiled)")
    p.add_argument("--method", choices=("auto", "tiled", "window"), default="auto",
                   help="causal models: tiled (default; context from fixed W-bp tiles, exact state reuse, fast) or window "
                        "(centred windows, as published before); bidirectional / RC models always use window")
    p.add_argument("--track", default=None,
                   help="the reference's relative track (make-relative-track), for models trained with model.relative_track=true")
    p.add_argument("--batch-size", type=int, default=None,
                   help="ALT runs (tiled method) or windows per forward pass (default: 8 for the tiled method on CPU, else 64)")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--labels", default=None,
                   help="TSV with chrom, pos, ref, alt, label (0/1): report AUROC/AUPRC of the scores against it")
    p.add_argument("--label-key", default="LABEL",
                   help="INFO key holding 0/1 labels in the VCF, used when --labels is not given (default LABEL)")
    p.add_argument("--positive-scores", choices=("lower", "higher"), default="lower",
                   help="label-1 variants are expected to score lower (default: damaging = lower LLR) or higher")
    return p


def _check_label_chroms(path: str, rows: list[dict[str, Any]], genome: GenomeFile) -> None:
    """Every chrom of ``--labels`` is a record of ``--fasta`` (an accession alias is fine)."""
    for chrom in dict.fromkeys(str(r["chrom"]) for r in rows):
        try:
            genome.resolve(chrom)
        except ContigError as e:
            raise ContigError(f"--labels {path}: {e}; the labels must name records of --fasta {genome.path}") from None


def _read_labels(
    args: argparse.Namespace, variants: Sequence[Variant], genome: GenomeFile, table: list[dict[str, Any]] | None
) -> tuple[dict[VariantKey, int], str] | None:
    """0/1 labels keyed like :func:`label_metrics` wants, and where they came from; None if none."""
    from genomamba.downstream.variants.labels import labels_by_variant

    if table is not None:
        # The TSV may name a contig by an accession alias of the VCF's record name, or vice versa.
        by_record = {(genome.resolve(str(v.chrom)), v.pos, v.ref, v.alt): v.chrom for v in variants if v.status == "ok"}
        labels: dict[VariantKey, int] = {}
        for (chrom, pos, ref, alt), label in labels_by_variant(table).items():
            key = (genome.resolve(chrom), pos, ref, alt)
            if key in by_record:
                labels[(by_record[key], pos, ref, alt)] = label
        return labels, f"--labels {args.labels}"
    labels = {}
    for v in variants:
        value = v.extra.get("info", {}).get(args.label_key)
        if value is None:
            continue
        if str(value) not in ("0", "1"):
            raise VCFError(
                f"{args.vcf}, line {v.line}: INFO {args.label_key}={value!r} is not a 0/1 label; fix it, pass "
                f"--label-key with another key, or --labels TSV"
            )
        labels[(v.chrom, v.pos, v.ref, v.alt)] = int(str(value))
    return (labels, f"INFO {args.label_key}") if labels else None


def main(argv: Sequence[str] | None = None) -> int:
    """``genomamba score-variants``: returns 0 on success, 2 on a user error (one line on stderr)."""
    args = _parser().parse_args(argv)  # before the heavy imports (torch): --help answers at once
    from genomamba.apps.args import fasta_arg, input_file, model_arg
    from genomamba.downstream.variants.labels import read_labelled_variants
    from genomamba.outputs import check_output_path

    try:  # argument and file errors answer before torch is imported (seconds)
        if args.batch_size is not None and args.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
        if args.window < 2:
            raise ConfigError(f"--window must be >= 2 bp, got {args.window}")
        model_arg(args.model)
        fasta_arg(args.fasta)
        fasta_arg(args.track, "--track")
        input_file(args.vcf, "--vcf", "VCF", VCFError, "pass an existing .vcf or .vcf.gz")
        check_output_path(args.out, option="--out", inputs={
            "--vcf": args.vcf, "--fasta": args.fasta, "--labels": args.labels, "--track": args.track, "--model": args.model})
        table = None if args.labels is None else read_labelled_variants(args.labels, option="--labels")
    except GenomambaError as e:
        print(f"genomamba: error: {e}", file=sys.stderr)
        return 2
    from genomamba.data.fasta import GenomeFile
    from genomamba.data.tracks import open_track
    from genomamba.devices import resolve_device
    from genomamba.downstream.stats import format_ci
    from genomamba.downstream.variants.scoring import label_metrics, score_variants, write_scores_tsv
    from genomamba.downstream.variants.vcf import read_vcf
    from genomamba.models import GenomambaLM

    start = time.perf_counter()
    try:
        # Everything that can be checked before the model runs is checked first: the device, the
        # FASTA, the labels' chroms, the VCF.
        device = resolve_device(args.device, option="--device")
        genome = GenomeFile(args.fasta)
        if table is not None:
            _check_label_chroms(args.labels, table, genome)
        variants = read_vcf(args.vcf, info_keys=() if args.labels else (args.label_key,))
        if not variants:
            raise VCFError(f"{args.vcf}: no variant records below the header, so nothing to score; check that it is the "
                           "VCF you meant (or the filter that made it)")
        model = GenomambaLM.load(args.model)
        model.config.check_track_input(args.track, args.model)
        track = None if args.track is None else open_track(args.track, genome, option="--track")
        rows = score_variants(model, genome, variants, window=args.window, batch_size=args.batch_size, device=device,
                              track=track, method=args.method)
        write_scores_tsv(rows, args.out)
        labelled = _read_labels(args, variants, genome, table)
        metrics = label_metrics(rows, labelled[0], args.positive_scores) if labelled else None
        # the shift and the influence grow with damage, so label-1 variants that score lower should have more
        growing_direction = "higher" if args.positive_scores == "lower" else "lower"
        extra_metrics = {
            name: label_metrics(rows, labelled[0], growing_direction, column=column)
            for column, name in (("shift", "hidden-state shift"), ("influence", "influence"))
        } if labelled else {}
    except GenomambaError as e:
        print(f"genomamba: error: {e}", file=sys.stderr)
        return 2
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
    from genomamba.downstream.variants.scoring import resolve_method

    what = f"wrote {len(rows)} rows to {args.out} ({summary}; {resolve_method(model, args.method)} method)"
    print(done_line(what, time.perf_counter() - start), file=sys.stderr)
    if labelled and metrics is None:
        print(f"labels ({labelled[1]}): the scored variants do not include both classes; no AUROC", file=sys.stderr)
    elif metrics:
        print(
            f"labels ({labelled[1]}): {metrics['n_pos']} label-1 and {metrics['n_neg']} label-0 variants scored; "
            f"AUROC {format_ci(metrics['auroc'], metrics['auroc_ci'])}, AUPRC {format_ci(metrics['auprc'], metrics['auprc_ci'])} "
            f"(chance {metrics['auprc_chance']:.3f}); 95% bootstrap CIs; label 1 expected to score {args.positive_scores}",
            file=sys.stderr,
        )
        for name, m in extra_metrics.items():
            if m:
                print(
                    f"labels, {name} ({m['n_labelled']} SNVs): AUROC {format_ci(m['auroc'], m['auroc_ci'])}, AUPRC "
                    f"{format_ci(m['auprc'], m['auprc_ci'])}; label 1 expected to score {growing_direction}",
                    file=sys.stderr,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
