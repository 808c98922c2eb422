"""Could a model learn missense effects by memorising a close relative? (prints one JSON document)

The zero-shot missense target (issue 13) is missed by every model we trained. GPN-MSA and
phyloP-style scores get their signal from alignments of related genomes, where synonymous sites
vary more than amino-acid-changing ones. Our bundled data has one such pair: K. pneumoniae
HS11286, whose last 5% holds the gene benchmark, and MGH 78578, another strain. This script
measures the best a model could get from that strain by recall alone: a lookup scorer that finds
each SNV's left K-base context (and, for the other strand, its reverse-complemented right
context) in MGH 78578 and scores ``log((n_alt + 1/2) / (n_ref + 1/2))`` from the bases that follow
it there; the mean of both strands. Metrics are the benchmark's own (``scorer_metrics``: 400
stratified SNVs per class against 400 synonymous, 95% bootstrap CIs).

    python benchmarks/relative_strain.py --k 12 20

A few seconds per K on a CPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def context_table(records: list[str], k: int) -> np.ndarray:
    """Sorted codes (:func:`~genomamba.data.kmers.kmer_codes`) of every (k-mer, following base),
    a (k + 1)-mer, on both strands of ``records``, leaving out any that hold a non-ACGT base:
    int64 ``(M,)``, ``k <= 30``."""
    from genomamba.data.kmers import kmer_codes
    from genomamba.data.tokenizer import DNATokenizer, reverse_complement_str

    tokenizer, codes = DNATokenizer(), []
    for record in records:
        for strand in (record, reverse_complement_str(record)):
            c, valid = kmer_codes(tokenizer.encode(strand), k + 1)
            codes.append(c[valid])
    return np.sort(np.concatenate(codes))


def count(table: np.ndarray, context: str, base: str) -> int:
    """How often ``base`` follows ``context`` in the sequences of ``table`` (0 if either holds N)."""
    from genomamba.data.kmers import kmer_codes
    from genomamba.data.tokenizer import DNATokenizer

    codes, valid = kmer_codes(DNATokenizer().encode(context + base), len(context) + 1)
    if not valid[0]:
        return 0
    return int(np.searchsorted(table, codes[0], side="right") - np.searchsorted(table, codes[0], side="left"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="+", default=[12, 20], help="context lengths (<= 30)")
    args = ap.parse_args()

    import pyfaidx

    from genomamba.data.tokenizer import reverse_complement_str
    from genomamba.downstream.genes.benchmark import read_benchmark_labels
    from genomamba.downstream.genes.metrics import scorer_metrics

    relative = pyfaidx.Fasta(str(DATA / "genomes" / "klebsiella_pneumoniae_MGH78578.fa.gz"), as_raw=True)
    genome = pyfaidx.Fasta(str(DATA / "genomes" / "klebsiella_pneumoniae_HS11286.fa.gz"), as_raw=True)
    labels = read_benchmark_labels(DATA / "variants" / "kpneumoniae_HS11286_genes_last5pct.labels.tsv")
    records = [str(relative[name][:]).upper() for name in relative.keys()]
    doc: dict = {"genome": "K. pneumoniae HS11286 (benchmark: last 5%)", "relative": "K. pneumoniae MGH 78578", "by_k": {}}
    for k in args.k:
        table = context_table(records, k)
        score = np.empty(len(labels))
        found = np.zeros(len(labels), dtype=bool)
        for i, row in enumerate(labels):
            chrom, pos, ref, alt = row["chrom"], row["pos"], row["ref"], row["alt"]
            left = str(genome[chrom][pos - 1 - k : pos - 1]).upper()
            right = reverse_complement_str(str(genome[chrom][pos : pos + k]).upper())
            strands = []
            for context, r, a in ((left, ref, alt), (right, reverse_complement_str(ref), reverse_complement_str(alt))):
                n_ref, n_alt = count(table, context, r), count(table, context, a)
                found[i] |= n_ref + n_alt > 0
                strands.append(np.log((n_alt + 0.5) / (n_ref + 0.5)))
            score[i] = float(np.mean(strands))
        metrics = scorer_metrics(labels, score)
        syn = np.array([r["consequence"] == "synonymous" for r in labels])
        mis = np.array([r["consequence"] == "missense" for r in labels])
        doc["by_k"][str(k)] = {
            "context_found_in_relative": float(found.mean()),
            "alt_allele_seen_after_context": {"synonymous": float((score[syn] > 0).mean()), "missense": float((score[mis] > 0).mean())},
            **metrics,
        }
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
