"""A transparent, rule-labelled SNV benchmark built from a real genome (E. coli 536 by default).

This is NOT clinical or biological ground truth. The rule (``generate_repeat_benchmark``):

* Count every canonical k-mer (k=16, a k-mer and its reverse complement count as one) over
  the genome; k-mers containing N are ignored.
* label 1 ("repeat-breaking"): an SNV at the centre base (offset k//2) of a k-mer occurring
  at least ``min_copies`` times genome-wide (repeated elements: REP/BIMEs, IS elements, rRNA
  operons, ...). The ALT base breaks that exact k-mer.
* label 0 ("unique-context"): an SNV at a position all of whose k overlapping k-mers occur
  exactly once in the genome.
* The ALT base is drawn uniformly from the three other bases; positions closer than
  ``margin`` bp to a contig end are excluded; sampling uses ``numpy.random.default_rng(seed)``.

What a model's score measures here: how much more confidently it predicts the reference base
inside sequence that is repeated genome-wide than inside unique sequence, i.e. whether it
has learned the genome's repeat structure. It says nothing about fitness, expression or
pathogenicity. A model trained on the same genome has seen every position (in-sample).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.kmers import canonical_codes, kmer_codes
from genomamba.data.tokenizer import DNATokenizer
from genomamba.downstream.variants.labels import read_labelled_variants
from genomamba.downstream.variants.scoring import score_variants
from genomamba.downstream.variants.supervised import finetune_variant_effect
from genomamba.downstream.variants.vcf import Variant
from genomamba.models import GenomambaLM
from genomamba.outputs import atomic_write_text

__all__ = ["canonical_kmer_counts", "evaluate_benchmark", "generate_repeat_benchmark", "read_labels", "write_benchmark"]

_TOK = DNATokenizer()
_BASES = np.array(list("ACGT"))
_PURINES = frozenset("AG")


def canonical_kmer_counts(ids: np.ndarray, k: int) -> np.ndarray:
    """Genome-wide copy number of the canonical k-mer starting at each position.

    Args:
        ids: token ids (L,) with A,C,G,T = 0..3 (anything else, e.g. N=4, invalidates a k-mer).

    Returns:
        int64 (L - k + 1,): count of that k-mer or its reverse complement; 0 where it has an N.

    >>> ids = DNATokenizer().encode("ACGTTACGT")  # ACG occurs twice, CGT twice, ACG~CGT (RC)
    >>> canonical_kmer_counts(ids, 3).tolist()
    [4, 4, 1, 1, 1, 4, 4]
    """
    codes, valid = kmer_codes(ids, k)  # (n,) each; raises ValueError unless 1 <= k <= 31
    n = len(codes)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    canon = canonical_codes(codes[valid], k)
    _, inv, counts = np.unique(canon, return_inverse=True, return_counts=True)
    out = np.zeros(n, dtype=np.int64)
    out[valid] = counts[inv]
    return out


def generate_repeat_benchmark(
    fasta: str | os.PathLike[str] | GenomeFile,
    n_per_class: int = 200,
    k: int = 16,
    min_copies: int = 5,
    margin: int = 1024,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Deterministically sample labelled SNVs (see the module docstring for the rule).

    Returns:
        ``2 * n_per_class`` dicts (chrom, pos 1-based, ref, alt, label, copies, bin), sorted by
        (contig order, pos); ``bin`` is the substitution class (transition / transversion),
        ``copies`` the genome-wide count of the centred k-mer.
    """
    genome = fasta if isinstance(fasta, GenomeFile) else GenomeFile(fasta)
    rng = np.random.default_rng(seed)
    half = k // 2
    pos_cand: list[tuple[int, np.ndarray, np.ndarray]] = []
    neg_cand: list[tuple[int, np.ndarray, np.ndarray]] = []
    contigs = list(genome.lengths)
    seqs: dict[str, np.ndarray] = {}
    for ci, chrom in enumerate(contigs):
        n = genome.lengths[chrom]
        if n < 2 * margin + k:
            continue
        ids = _TOK.encode(genome.fetch(chrom, 0, n).upper())
        seqs[chrom] = ids
        counts = canonical_kmer_counts(ids, k)  # (n-k+1,) indexed by k-mer start
        centre = np.arange(len(counts)) + half  # position mutated for the k-mer starting at i
        # max copy number over the k k-mers overlapping each position; 0 marks an N nearby
        cov = np.lib.stride_tricks.sliding_window_view(counts, k)  # (n-2k+2, k): k-mers covering p = j + k - 1
        cov_pos = np.arange(cov.shape[0]) + k - 1
        keep_p = (centre >= margin) & (centre < n - margin) & (counts >= min_copies)
        keep_n = (cov_pos >= margin) & (cov_pos < n - margin) & (cov.max(1) == 1) & (cov.min(1) == 1)
        pos_cand.append((ci, centre[keep_p], counts[keep_p]))
        neg_cand.append((ci, cov_pos[keep_n], np.ones(int(keep_n.sum()), dtype=np.int64)))
    rows: list[dict[str, Any]] = []
    for label, cands in ((1, pos_cand), (0, neg_cand)):
        ci = np.concatenate([np.full(len(p), c) for c, p, _ in cands])
        pp = np.concatenate([p for _, p, _ in cands])
        cc = np.concatenate([c for _, _, c in cands])
        if len(pp) < n_per_class:
            raise ValueError(f"only {len(pp)} candidate positions for label {label}; lower n_per_class or min_copies")
        pick = rng.choice(len(pp), size=n_per_class, replace=False)
        for j in pick:
            chrom = contigs[int(ci[j])]
            p = int(pp[j])
            ref_id = int(seqs[chrom][p])
            alt = str(rng.choice([b for b in "ACGT" if b != "ACGT"[ref_id]]))
            ref = "ACGT"[ref_id]
            rows.append(
                {
                    "chrom": chrom, "pos": p + 1, "ref": ref, "alt": alt, "label": label, "copies": int(cc[j]),
                    "bin": "transition" if (ref in _PURINES) == (alt in _PURINES) else "transversion",
                }
            )
    order = {c: i for i, c in enumerate(contigs)}
    rows.sort(key=lambda r: (order[r["chrom"]], r["pos"]))
    return rows


def write_benchmark(rows: list[dict[str, Any]], genome: GenomeFile, out_dir: str | os.PathLike[str], name: str, source: str) -> tuple[Path, Path]:
    """Write ``<name>.vcf`` (VCF 4.2, INFO LABEL/COPIES) and ``<name>.labels.tsv`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vcf, tsv = out / f"{name}.vcf", out / f"{name}.labels.tsv"
    used = dict.fromkeys(r["chrom"] for r in rows)
    lines = ["##fileformat=VCFv4.2", f"##source={source}", f"##reference={genome.path.name}"]
    lines += [f"##contig=<ID={c},length={genome.lengths[c]}>" for c in used]
    lines += [
        '##INFO=<ID=LABEL,Number=1,Type=Integer,Description="Rule label: 1 breaks a high-copy k-mer, 0 unique context (synthetic, not biological truth)">',
        '##INFO=<ID=COPIES,Number=1,Type=Integer,Description="Genome-wide copies of the centred canonical k-mer">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    lines += [f"{r['chrom']}\t{r['pos']}\tv{i}\t{r['ref']}\t{r['alt']}\t.\t.\tLABEL={r['label']};COPIES={r['copies']}"
              for i, r in enumerate(rows, start=1)]
    atomic_write_text(vcf, "\n".join(lines) + "\n")
    buf = io.StringIO()
    wr = csv.writer(buf, delimiter="\t", lineterminator="\n")
    cols = ["id", "chrom", "pos", "ref", "alt", "label", "copies", "bin"]
    wr.writerow(cols)
    for i, r in enumerate(rows, start=1):
        wr.writerow([f"v{i}", *(r[c] for c in cols[1:])])
    atomic_write_text(tsv, buf.getvalue())
    return vcf, tsv


def read_labels(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a ``*.labels.tsv`` written by :func:`write_benchmark` (pos/label/copies as int)."""
    rows = read_labelled_variants(path)
    for r in rows:
        r["copies"] = int(r["copies"])
    return rows


def evaluate_benchmark(
    model: GenomambaLM, fasta: str | os.PathLike[str], labels: list[dict[str, Any]], window: int = 256,
    embed_window: int = 128, classifier: str = "logistic", cv: int = 5, seed: int = 0, batch_size: int = 64,
) -> dict[str, Any]:
    """Zero-shot AUROC/AUPRC (label 1 should score LOWER, so ``-score`` ranks positives) plus
    cross-validated supervised metrics (:func:`finetune_variant_effect`)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    genome = GenomeFile(fasta)
    variants = [Variant(r["chrom"], r["pos"], r["ref"], r["alt"], record=i + 1) for i, r in enumerate(labels)]
    rows = score_variants(model, genome, variants, window=window, batch_size=batch_size)
    y = np.array([r["label"] for r in labels])
    s = np.array([r["score"] for r in rows])
    ok = np.isfinite(s)
    bins = np.array([r["bin"] for r in labels])
    zero_shot: dict[str, Any] = {
        "auroc": float(roc_auc_score(y[ok], -s[ok])),
        "auprc": float(average_precision_score(y[ok], -s[ok])),
        "n_scored": int(ok.sum()),
        "mean_score_label1": float(s[ok & (y == 1)].mean()),
        "mean_score_label0": float(s[ok & (y == 0)].mean()),
        "fwd_rev_pearson": float(np.corrcoef([r["score_fwd"] for r in rows], [r["score_rev"] for r in rows])[0, 1]),
        "per_bin": {
            b: float(roc_auc_score(y[ok & (bins == b)], -s[ok & (bins == b)])) for b in sorted(set(bins.tolist()))
        },
    }
    sup = finetune_variant_effect(
        model, labels, genome, features="diff", classifier=classifier, cv=cv, seed=seed,
        window=embed_window, zero_shot_window=window, batch_size=batch_size,
    )
    sup.pop("oof_probability")
    sup_nozs = finetune_variant_effect(
        model, labels, genome, features="diff", classifier=classifier, cv=cv, seed=seed,
        window=embed_window, add_zero_shot=False, batch_size=batch_size,
    )
    return {
        "n": len(labels), "window": window, "embed_window": embed_window,
        "zero_shot": zero_shot,
        "supervised": sup,
        "supervised_embeddings_only": {k: sup_nozs[k] for k in ("auroc", "auprc", "auroc_fold_std", "per_bin")},
    }
