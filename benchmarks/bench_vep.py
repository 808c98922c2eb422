"""SNVs per second of variant scoring: score-variants' window method (the old path) and tiled method
(exact state reuse) side by side, and saturation mutagenesis, for each shipped causal model.

Prints JSON. Timings are interleaved A/B/A/B in one process (``--repeats``), so a shared machine
disturbs both methods alike: read the ``speedup`` (median of per-repeat ratios), and re-measure
absolute SNVs/s on an idle machine. Each model scores the same SNVs: the first ``--n-vcf`` SNVs of
the bundled gene benchmark (a contiguous stretch, as dense as the whole set) and, for mutagenesis,
every SNV of a ``--region-bp`` region. Full size (the targets): ``--n-vcf 3600 --region-bp 10000``;
the defaults are a quick run.

    python benchmarks/bench_vep.py --threads 2                         # quick, CPU
    python benchmarks/bench_vep.py --threads 2 --n-vcf 3600 --region-bp 10000 --repeats 1
    python benchmarks/bench_vep.py --device cuda --region-bp 100000    # GPU, when one is present
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from genomamba.data.fasta import GenomeFile
from genomamba.data.tracks import open_track
from genomamba.downstream.variants.mutagenesis import Region, saturation_mutagenesis
from genomamba.downstream.variants.scoring import score_variants
from genomamba.downstream.variants.vcf import Variant, read_vcf
from genomamba.models import GenomambaLM

REPO = Path(__file__).resolve().parents[1]
GENOME = REPO / "data/genomes/escherichia_coli_536.fa.gz"
TRACK = REPO / "data/tracks/escherichia_coli_536.relative_klebsiella_pneumoniae_MGH78578.fa.gz"
VCF = REPO / "data/variants/ecoli536_genes_last5pct.vcf"
CAUSAL_MODELS = ("ecoli536-hybrid-small", "ecoli536-hybrid-codon", "ecoli536-hybrid-d256", "bacteria4-hybrid-d256",
                 "ecoli536-mamba-periodic", "ecoli536-mamba-track")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(CAUSAL_MODELS))
    p.add_argument("--n-vcf", type=int, default=150, help="SNVs of the gene benchmark scored per method (full: 3600)")
    p.add_argument("--region-bp", type=int, default=200, help="mutagenesis region length (full: 10000)")
    p.add_argument("--region-start", type=int, default=4_700_001, help="1-based start of the mutagenesis region")
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=None, help="default: score_variants' own (8 tiled on CPU, else 64)")
    p.add_argument("--repeats", type=int, default=2, help="interleaved window/tiled repeats per model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    genome = GenomeFile(GENOME)
    track_file = open_track(TRACK, genome)
    snvs = [v for v in read_vcf(VCF) if v.is_snv][: a.n_vcf]
    chrom = snvs[0].chrom
    region = Region(chrom, a.region_start - 1, a.region_start - 1 + a.region_bp)
    out: dict = {
        "benchmark": "bench_vep", "device": str(device), "threads": a.threads, "window": a.window,
        "batch_size": a.batch_size, "n_vcf_snvs": len(snvs), "vcf_span_bp": snvs[-1].pos - snvs[0].pos,
        "mutagenesis_region": str(region), "repeats": a.repeats, "torch": torch.__version__, "machine": platform.node(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "models": {},
    }
    for name in a.models:
        model = GenomambaLM.load(name).to(device).eval()
        track = track_file if model.config.relative_track else None
        seconds: dict[str, list[float]] = {"window": [], "tiled": []}
        for _ in range(a.repeats):
            for method in ("window", "tiled"):
                fresh = [Variant(v.chrom, v.pos, v.ref, v.alt) for v in snvs]
                _sync(device)
                t0 = time.perf_counter()
                score_variants(model, genome, fresh, window=a.window, batch_size=a.batch_size, method=method, track=track)
                _sync(device)
                seconds[method].append(time.perf_counter() - t0)
        ratios = [w / t for w, t in zip(seconds["window"], seconds["tiled"], strict=True)]
        _sync(device)
        t0 = time.perf_counter()
        rows = saturation_mutagenesis(model, genome, region, window=a.window, batch_size=a.batch_size, track=track)
        _sync(device)
        mg_s = time.perf_counter() - t0
        out["models"][name] = {
            "score_variants": {
                "window_snvs_per_s": [round(len(snvs) / s, 3) for s in seconds["window"]],
                "tiled_snvs_per_s": [round(len(snvs) / s, 3) for s in seconds["tiled"]],
                "speedup_tiled_over_window": round(statistics.median(ratios), 3),
                "speedup_per_repeat": [round(r, 3) for r in ratios],
            },
            "mutagenesis": {
                "snvs": len(rows), "seconds": round(mg_s, 1), "snvs_per_s": round(len(rows) / mg_s, 2),
                "projected_10kb_minutes": round(30_000 / (len(rows) / mg_s) / 60, 1),
            },
        }
        print(json.dumps({name: out["models"][name]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
