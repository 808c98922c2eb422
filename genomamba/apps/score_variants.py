"""``genomamba score-variants``: zero-shot variant-effect scores of a VCF, written as a TSV, and
with labels (a TSV or a VCF INFO key) their AUROC / AUPRC."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from genomamba.errors import ConfigError, GenomambaError, VCFError

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
    p.add_argument("--model", required=True, help="save_pretrained directory, run directory or Lightning .ckpt")
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
    p.add_argument("--batch-size", type=int, default=64, help="windows per forward pass (default 64)")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--labels", default=None,
                   help="TSV with chrom, pos, ref, alt, label (0/1): report AUROC/AUPRC of the scores against it")
    p.add_argument("--label-key", default="LABEL",
                   help="INFO key holding 0/1 labels in the VCF, used when --labels is not given (default LABEL)")
    p.add_argument("--positive-scores", choices=("lower", "higher"), default="lower",
                   help="label-1 variants are expected to score lower (default: damaging = lower LLR) or higher")
    return p


def _read_labels(
    args: argparse.Namespace, variants: Sequence[Variant], genome: GenomeFile
) -> tuple[dict[VariantKey, int], str] | None:
    """0/1 labels keyed like :func:`label_metrics` wants, and where they came from; None if none."""
    from genomamba.downstream.variants.labels import labels_by_variant, read_labelled_variants

    if args.labels:
        # The TSV may name a contig by an accession alias of the VCF's record name, or vice versa.
        by_record = {(genome.resolve(str(v.chrom)), v.pos, v.ref, v.alt): v.chrom for v in variants if v.status == "ok"}
        labels: dict[VariantKey, int] = {}
        for (chrom, pos, ref, alt), label in labels_by_variant(read_labelled_variants(args.labels)).items():
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
    from genomamba.data.fasta import GenomeFile
    from genomamba.data.tracks import open_track
    from genomamba.devices import resolve_device
    from genomamba.downstream.stats import format_ci
    from genomamba.downstream.variants.scoring import label_metrics, score_variants, write_scores_tsv
    from genomamba.downstream.variants.vcf import read_vcf
    from genomamba.models import GenomambaLM
    from genomamba.outputs import check_output_path

    try:
        # Everything that can be checked before the model runs is checked first.
        if args.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
        if args.window < 2:
            raise ConfigError(f"--window must be >= 2 bp, got {args.window}")
        device = resolve_device(args.device, option="--device")
        check_output_path(args.out, option="--out")
        model = GenomambaLM.load(args.model)
        model.config.check_track_input(args.track, args.model)
        genome = GenomeFile(args.fasta)
        track = None if args.track is None else open_track(args.track, genome, option="--track")
        variants = read_vcf(args.vcf, info_keys=() if args.labels else (args.label_key,))
        rows = score_variants(model, genome, variants, window=args.window, batch_size=args.batch_size, device=device,
                              track=track, method=args.method)
        write_scores_tsv(rows, args.out)
        labelled = _read_labels(args, variants, genome)
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

    print(f"wrote {len(rows)} rows to {args.out} ({summary}; {resolve_method(model, args.method)} method)", file=sys.stderr)
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
