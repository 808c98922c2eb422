"""What composition can tell at 1 kb: stronger k-mer-level classifiers on the strain-held-out
species probe's own windows (prints one JSON document; an accuracy report, not a timed test).

The probe's baseline is a logistic regression on 6-mer frequencies. This script asks how much
better a classifier that sees only composition can do on the same windows, which bounds what an
embedding must carry to beat the baseline by more than the CI:

* ``markov_windows_k``: a generative classifier. One order-k Markov chain per species
  (:class:`~genomamba.training.markov.MarkovModel`, both strands of that species' training windows),
  and each test window, both strands, goes to the species under which it is most likely.
* ``markov_genomes_k``: the same chains fitted on every base of the species' training split (all
  of its training strains / regions), not only the training windows.
* ``codon_oracle``: in-frame codon usage (64 frequencies, from Prodigal genes called on the
  genome the window comes from, so the reading frame is *given*) plus the coding fraction, alone
  and next to the 6-mer frequencies: the most a frame-aware feature of composition adds.

Every row is paired with the 6-mer baseline on the same test windows (bootstrap CI, McNemar p).

    python benchmarks/species_ceiling.py --test-strains "Klebsiella pneumoniae=MGH 78578" "Staphylococcus aureus=N315"

About a minute on the 2-core CPU per seed.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MAX_GENE_BP = 60_000  # longer than any bacterial gene: genes starting further back cannot reach a window


def markov_classify(train: list[list[np.ndarray]], test_ids: np.ndarray, order: int) -> np.ndarray:
    """Predicted class of each test window: argmax over classes of the window's log-likelihood,
    both strands, under an order-``order`` chain fitted on that class's sequences (``train[c]``)."""
    from genomamba.data.tokenizer import DNATokenizer
    from genomamba.training.markov import MarkovModel

    tok = DNATokenizer()
    rc = np.stack([tok.reverse_complement(w) for w in test_ids])
    ll = []
    for seqs in train:
        chain = MarkovModel.fit([*seqs, *(tok.reverse_complement(s) for s in seqs)], order)
        ll.append(chain.window_log_likelihood(test_ids) + chain.window_log_likelihood(rc))
    return np.stack(ll, 1).argmax(1)


def codon_features(windows: Any, genes: dict[str, dict[str, tuple[np.ndarray, list[Any]]]]) -> np.ndarray:
    """``(N, 65)``: each window's in-frame codon frequencies (genes on either strand, the part of
    each codon inside the window) and the fraction of the window that is coding. ``genes``: genome
    name -> record -> (sorted gene starts, genes)."""
    from genomamba.downstream.genes.consequences import coding_base_codes

    out = np.zeros((len(windows.labels), 65))
    for i, ids in enumerate(windows.ids.astype(np.int64)):
        s0, length = int(windows.start[i]), len(ids)
        covered = np.zeros(length, bool)
        starts, record_genes = genes[windows.genome[i]].get(windows.contig[i], (np.zeros(0, np.int64), []))
        first = int(np.searchsorted(starts, s0 - MAX_GENE_BP))
        for g in record_genes[first : int(np.searchsorted(starts, s0 + length))]:
            lo, hi = max(g.start, s0), min(g.end, s0 + length)
            if hi - lo < 3:
                continue
            # the gene's bases as far as the window has them (N elsewhere), read on its coding strand
            bases = np.full(g.end - g.start, 4, dtype=np.int64)
            bases[lo - g.start : hi - g.start] = ids[lo - s0 : hi - s0]
            coding = coding_base_codes(replace(g, start=0, end=g.end - g.start), bases)
            codons = coding[: len(coding) // 3 * 3].reshape(-1, 3)
            ok = (codons < 4).all(1)
            np.add.at(out[i], (codons[ok] @ [16, 4, 1]), 1.0)
            covered[lo - s0 : hi - s0] = True
        n = out[i, :64].sum()
        out[i, :64] /= max(n, 1.0)
        out[i, 64] = covered.mean()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genomes", default=str(REPO / "data" / "species.tsv"))
    ap.add_argument("--length", type=int, default=1024)
    ap.add_argument("--n-windows", type=int, default=512, help="training windows per species")
    ap.add_argument("--n-test-windows", type=int, default=150, help="test windows per species")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--orders", type=int, nargs="+", default=[4, 5, 6, 7, 8])
    ap.add_argument("--test-strains", nargs="+", default=[], metavar="SPECIES=STRAIN")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    a = ap.parse_args()

    from genomamba.data.species_table import parse_test_strains
    from genomamba.data.tokenizer import DNATokenizer
    from genomamba.downstream.genes.consequences import call_genes
    from genomamba.downstream.kmer import classification_metrics, fit_logistic, kmer_frequencies
    from genomamba.downstream.species.genomes import draw_windows, split_genomes
    from genomamba.downstream.stats import compare_accuracy
    from genomamba.outputs import atomic_write_text, json_text

    tok = DNATokenizer()
    doc: dict[str, Any] = {"command": "python benchmarks/species_ceiling.py " + " ".join(
        [f"--length {a.length} --n-windows {a.n_windows} --n-test-windows {a.n_test_windows}",
         "--seeds " + " ".join(map(str, a.seeds)), "--orders " + " ".join(map(str, a.orders))]
        + (["--test-strains " + " ".join(f'"{t}"' for t in a.test_strains)] if a.test_strains else [])), "seeds": []}
    genes: dict[str, dict[str, tuple[np.ndarray, list[Any]]]] = {}  # genome -> record -> (sorted starts, genes)
    for seed in a.seeds:
        sp = split_genomes(a.genomes, split="strain", seed=seed, test_strains=parse_test_strains(a.test_strains) or None)
        for f in sp.files:
            if f.name not in genes:
                by_record: dict[str, list[Any]] = {}
                for g in sorted(call_genes(f), key=lambda g: g.start):
                    by_record.setdefault(g.chrom, []).append(g)
                genes[f.name] = {c: (np.array([g.start for g in gs]), gs) for c, gs in by_record.items()}
        train = draw_windows(sp, "train", a.length, a.n_windows, seed=seed)
        test = draw_windows(sp, "test", a.length, a.n_test_windows, seed=seed)
        y = test.labels
        k6_train, k6_test = kmer_frequencies(train.ids, 6), kmer_frequencies(test.ids, 6)
        base = fit_logistic(k6_train, train.labels, k6_test, seed=seed)
        preds: dict[str, np.ndarray] = {"kmer6_logistic": base}
        windows_by_class = [[w.astype(np.int64) for w in train.ids[train.labels == c]] for c in range(len(sp.species))]
        split_by_class: list[list[np.ndarray]] = [[] for _ in sp.species]
        for f, ivs in zip(sp.files, sp.intervals["train"], strict=True):
            split_by_class[f.label] += [tok.encode(f.fetch(iv.contig, iv.start, iv.end).upper()).astype(np.int64) for iv in ivs]
        for k in a.orders:
            preds[f"markov_windows_k{k}"] = markov_classify(windows_by_class, test.ids.astype(np.int64), k)
            preds[f"markov_genomes_k{k}"] = markov_classify(split_by_class, test.ids.astype(np.int64), k)
        c_train, c_test = codon_features(train, genes), codon_features(test, genes)
        preds["codon_oracle"] = fit_logistic(c_train, train.labels, c_test, seed=seed)
        preds["codon_oracle_plus_kmer6"] = fit_logistic(np.hstack([c_train, k6_train]), train.labels,
                                                        np.hstack([c_test, k6_test]), seed=seed)
        rows = {}
        for name, p in preds.items():
            m = classification_metrics(y, p, sp.species)
            rows[name] = {"accuracy": m["accuracy"], "accuracy_ci": m["accuracy_ci"], "confusion_matrix": m["confusion_matrix"]}
            if name != "kmer6_logistic":
                rows[name]["minus_kmer6"] = compare_accuracy(y, p, base, seed=seed)
        doc["seeds"].append({"seed": seed, "held_out": sp.held_out, "species": sp.species, "n_train": len(train.labels),
                             "n_test": len(y), "classifiers": rows})
    text = json_text(doc, indent=1)
    if a.out:
        atomic_write_text(a.out, text + "\n", option="--out")
    print(text)


if __name__ == "__main__":
    main()
