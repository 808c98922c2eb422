"""Tokenizer throughput on real genome sequence (bundled E. coli 536).

Prints JSON: Mb/s of ``DNATokenizer.encode`` on a 10 Mb sequence (plain and with the soft
mask), and of a naive per-base Python loop on a 200 kb slice, with the speed-up ratio.

    python benchmarks/bench_tokenize.py [--mb 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import DNATokenizer

ECOLI = Path(__file__).resolve().parents[1] / "data" / "genomes" / "escherichia_coli_536.fa.gz"


def naive_encode(seq: str) -> np.ndarray:
    table = {"A": 0, "C": 1, "G": 2, "T": 3}
    out = []
    for ch in seq:
        out.append(table.get(ch.upper(), 4))
    return np.array(out, dtype=np.int64)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=10.0, help="sequence length in Mb for the vectorised encoder")
    ap.add_argument("--naive-kb", type=float, default=200.0, help="slice length in kb for the per-base loop")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    g = GenomeFile(ECOLI)
    contig, n = next(iter(g.lengths.items()))
    genome = g.fetch(contig, 0, n)
    target = int(args.mb * 1e6)
    # Real sequence: the genome repeated to reach the target, with one soft-masked stretch.
    seq = (genome * (target // n + 1))[:target]
    seq = seq[: target // 2] + seq[target // 2 : target // 2 + 100_000].lower() + seq[target // 2 + 100_000 :]
    tok = DNATokenizer()
    small = seq[: int(args.naive_kb * 1e3)]
    assert (naive_encode(small) == tok.encode(small)).all()

    t_plain = best_of(lambda: tok.encode(seq), args.repeats)
    t_soft = best_of(lambda: tok.encode(seq, return_soft_mask=True), args.repeats)
    t_naive = best_of(lambda: naive_encode(small), max(1, args.repeats // 2))
    mbps = lambda nbytes, t: nbytes / t / 1e6  # noqa: E731
    result = {
        "source": f"{ECOLI.name}:{contig}",
        "encode_length_bp": len(seq),
        "encode_mb_per_s": round(mbps(len(seq), t_plain), 1),
        "encode_soft_mask_mb_per_s": round(mbps(len(seq), t_soft), 1),
        "naive_length_bp": len(small),
        "naive_python_loop_mb_per_s": round(mbps(len(small), t_naive), 2),
        "speedup_vs_naive": round(mbps(len(seq), t_plain) / mbps(len(small), t_naive), 1),
        "repeats_best_of": args.repeats,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
