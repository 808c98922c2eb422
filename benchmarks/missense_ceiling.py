"""What knowing the reading frame and the local coding statistics buys on missense vs synonymous
SNVs (prints one JSON document; an accuracy report, not a timed test).

Issue 13 asks for a zero-shot missense-vs-synonymous AUROC of at least 0.60, and our models'
LLRs stay below 0.5. The hypothesis (docs/benchmarks/variants.md) is that the frame alone cannot get there: a
synonymous change at a third position usually swaps a preferred codon for a rarer one. The
``codon_usage`` reference of ``genomamba variant-benchmark`` shows it for codon usage without
context. This script gives the frame-given scorers their sequence context too, the most a model
that inferred the frame perfectly could learn from the coding sequence of this one genome:

* ``periodic_k{K}_site``: a 3-periodic order-K Markov chain (a GeneMark-style inhomogeneous
  chain, Borodovsky & McIninch 1993, Comput. Chem. 17:123) fitted on the coding strand of
  every complete Prodigal gene inside the benchmark's training split; one table per codon
  position. The score is the SNV's own prediction: ``log p(ALT | K preceding coding bases,
  codon position) - log p(REF | ...)``, in nats.
* ``periodic_k{K}_window``: the same chain, summed over the K + 1 predictions the SNV enters
  (its own and those of the K bases after it, which see it in their context).
* ``codon_pairs``: the codon given the codon before it (64 x 64 table, codon-pair bias):
  ``log p(c_i | c_{i-1}) + log p(c_{i+1} | c_i)`` with ALT minus with REF.
* ``codon_usage``: the benchmark's own frame-given reference, for comparison.

And what one related species adds, the kind of information GPN-MSA reads from a whole-genome
alignment (Benegas et al. 2025, Nat. Biotechnol., "A DNA language model based on multispecies
alignment predicts the effects of genome-wide variants"):

* ``relative_species``: the conservation reference of ``genomamba variant-benchmark --relative``
  (:mod:`genomamba.downstream.genes.homologs`): each benchmark gene aligned to its best homolog in
  the relative through the protein; ``[relative base == ALT] - [relative base == REF]`` at the
  aligned base, 0 where none is aligned. No genetic code is used in the score. The relatives:
  E. coli 536 for the Klebsiella benchmark, K. pneumoniae MGH 78578 for the E. coli one.

Each scorer is scored with the benchmark's metrics (:func:`scorer_metrics`: 400 stratified SNVs
per class against 400 synonymous, 95% bootstrap CIs, the AUROC within substitution type, and the
codon-position AUROC on the uniform sample). Missense within substitution type is also paired
with ``codon_usage`` on the same SNVs.

    python benchmarks/missense_ceiling.py --out benchmarks/results/missense_ceiling.json

About a minute per genome on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BUNDLED = (  # (genome, its gene benchmark, a genome of a related species)
    ("data/genomes/escherichia_coli_536.fa.gz", "data/variants/ecoli536_genes_last5pct",
     "data/genomes/klebsiella_pneumoniae_MGH78578.fa.gz"),
    ("data/genomes/klebsiella_pneumoniae_HS11286.fa.gz", "data/variants/kpneumoniae_HS11286_genes_last5pct",
     "data/genomes/escherichia_coli_536.fa.gz"),
)


def fit_periodic_markov(cds: list[np.ndarray], order: int, alpha: float = 0.5) -> np.ndarray:
    """Log-probabilities ``(3, 4**order, 4)`` of a 3-periodic order-``order`` chain:
    ``[phase, code of the preceding bases, base]``, phase = the predicted base's index along its
    coding sequence mod 3 (0 = first codon position). ``cds``: coding-strand base codes (A=0 ..
    T=3, 4 = other), each starting at a codon's first base; add-``alpha`` smoothing."""
    from genomamba.data.kmers import kmer_codes

    counts = np.zeros((3, 4**order, 4))
    for seq in cds:
        codes, valid = kmer_codes(seq, order + 1)  # (context, base) as one (order + 1)-mer
        t = np.arange(order, len(seq))[valid]  # position of the predicted base
        np.add.at(counts, (t % 3, codes[valid] >> 2, codes[valid] & 3), 1)
    return np.log((counts + alpha) / (counts + alpha).sum(-1, keepdims=True))


def periodic_log_likelihood(log_p: np.ndarray, seq: np.ndarray, first: int, stop: int) -> float:
    """Sum of ``log p(seq[t] | seq[t-order:t], t mod 3)`` over ``first <= t < stop`` (clipped to
    the positions with a full context inside ``seq``)."""
    order = int(round(np.log(log_p.shape[1]) / np.log(4)))
    total = 0.0
    for t in range(max(first, order), min(stop, len(seq))):
        context = 0
        for base in seq[t - order : t]:
            context = context * 4 + int(base)
        total += float(log_p[t % 3, context, int(seq[t])])
    return total


def periodic_llr(log_p: np.ndarray, ref: np.ndarray, alt: np.ndarray, site: int, window: bool) -> float:
    """ALT minus REF log-likelihood at coding index ``site`` (``window``: and the ``order``
    predictions after it) of two coding sequences that differ at ``site`` only."""
    order = int(round(np.log(log_p.shape[1]) / np.log(4)))
    stop = site + (order + 1 if window else 1)
    return periodic_log_likelihood(log_p, alt, site, stop) - periodic_log_likelihood(log_p, ref, site, stop)


def fit_codon_pairs(cds: list[np.ndarray], alpha: float = 0.5) -> np.ndarray:
    """``(64, 64)`` log p(codon | previous codon) over consecutive all-ACGT codon pairs."""
    counts = np.zeros((64, 64))
    for seq in cds:
        codons = seq[: len(seq) // 3 * 3].reshape(-1, 3)
        code = codons @ np.array([16, 4, 1])
        ok = (codons < 4).all(1)
        pair = ok[:-1] & ok[1:]
        np.add.at(counts, (code[:-1][pair], code[1:][pair]), 1)
    return np.log((counts + alpha) / (counts + alpha).sum(-1, keepdims=True))


def codon_pair_llr(log_p: np.ndarray, ref: np.ndarray, alt: np.ndarray, site: int) -> float:
    """ALT minus REF of the two codon-pair terms the SNV's codon enters (one at a gene end)."""
    def terms(seq: np.ndarray) -> float:
        codons = seq[: len(seq) // 3 * 3].reshape(-1, 3) @ np.array([16, 4, 1])
        i = site // 3
        return (float(log_p[codons[i - 1], codons[i]]) if i > 0 else 0.0) + (
            float(log_p[codons[i], codons[i + 1]]) if i + 1 < len(codons) else 0.0)
    return terms(alt) - terms(ref)


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    keep = {"missense_vs_synonymous": m["auroc_vs_synonymous"].get("missense"),
            "nonsense_vs_synonymous": m["auroc_vs_synonymous"].get("nonsense"),
            "missense_within_substitution": m.get("auroc_within_substitution", {}).get("missense"),
            "codon_position_3_above_1_2": m.get("codon_position_auroc")}
    return {k: {"auroc": v["auroc"], "ci": v["ci"], "n_pos": v["n_pos"], "n_neg": v["n_neg"]}
            for k, v in keep.items() if v is not None}


def evaluate(fasta: str, prefix: str, orders: list[int], relative: str | None = None) -> dict[str, Any]:
    """All scorers' metrics on one gene benchmark (``prefix.vcf`` + ``prefix.labels.tsv``), with
    ``relative`` (a FASTA of a related species) for the ``relative_species`` scorer."""
    from genomamba.data.fasta import GenomeFile
    from genomamba.downstream.genes.benchmark import (
        complement_regions,
        parse_regions,
        read_benchmark_labels,
        read_benchmark_regions,
    )
    from genomamba.downstream.genes.consequences import (
        call_genes,
        coding_base_codes,
        genome_codes,
        snv_coding_sequences,
    )
    from genomamba.downstream.genes.homologs import relative_species_llr
    from genomamba.downstream.genes.metrics import (
        codon_usage_llr,
        contrast_indices,
        scorer_metrics,
        substitution_type,
        transversion_rule,
    )
    from genomamba.downstream.stats import paired_stratified_auroc_difference

    genome = GenomeFile(REPO / fasta if not Path(fasta).is_absolute() else fasta)
    labels = read_benchmark_labels(REPO / f"{prefix}.labels.tsv")
    regions = parse_regions(read_benchmark_regions(REPO / f"{prefix}.vcf"), genome.lengths)
    train = complement_regions(regions, genome.lengths)
    seq_ids = genome_codes(genome)
    genes = call_genes(genome)
    inside = [g for g in genes if not g.partial
              and any(r.contig == g.chrom and r.start <= g.start and g.end <= r.end for r in train)]
    train_cds = [coding_base_codes(g, seq_ids[g.chrom]) for g in inside]
    sites = snv_coding_sequences(labels, {g.id: g for g in genes}, seq_ids)

    scores: dict[str, np.ndarray] = {}
    for k in orders:
        log_p = fit_periodic_markov(train_cds, k)
        for window in (False, True):
            scores[f"periodic_k{k}_{'window' if window else 'site'}"] = np.array(
                [np.nan if s is None else periodic_llr(log_p, *s, window=window) for s in sites])
    pairs = fit_codon_pairs(train_cds)
    scores["codon_pairs"] = np.array([np.nan if s is None else codon_pair_llr(pairs, *s) for s in sites])
    scores["codon_usage"] = codon_usage_llr(genome, labels, train, genes=genes)[0]
    homolog_counts = None
    if relative is not None:
        other = GenomeFile(REPO / relative if not Path(relative).is_absolute() else relative)
        scores["relative_species"], homolog_counts = relative_species_llr(genome, labels, other, genes=genes)

    idx, y = contrast_indices(labels, "missense")
    strata = substitution_type(transversion_rule(labels)[idx] < 0)
    rows: dict[str, Any] = {}
    for name, s in scores.items():
        rows[name] = _summary(scorer_metrics(labels, s))
        if name != "codon_usage":
            rows[name]["missense_within_substitution_minus_codon_usage"] = paired_stratified_auroc_difference(
                y, -s[idx], -scores["codon_usage"][idx], strata)
    return {"fasta": fasta, "benchmark": prefix, "training_genes": len(inside), "relative": relative,
            "homologs": homolog_counts, "scorers": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", nargs=3, action="append", metavar=("FASTA", "PREFIX", "RELATIVE"),
                    help="a genome, its gene benchmark and a genome of a related species (repeatable; "
                         "default: both bundled ones)")
    ap.add_argument("--orders", type=int, nargs="+", default=[2, 4, 6, 8])
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    a = ap.parse_args()
    from genomamba.outputs import atomic_write_text, json_text

    pairs = a.benchmark or BUNDLED
    doc = {"command": "python benchmarks/missense_ceiling.py --orders " + " ".join(map(str, a.orders))
           + "".join(f" --benchmark {f} {p} {r}" for f, p, r in (a.benchmark or [])),
           "genomes": [evaluate(f, p, a.orders, r) for f, p, r in pairs]}
    text = json_text(doc, indent=1) + "\n"
    sys.stdout.write(text)
    if a.out:
        atomic_write_text(a.out, text, option="--out")


if __name__ == "__main__":
    main()
