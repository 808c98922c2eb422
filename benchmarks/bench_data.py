"""The data pipeline at human-genome scale, and over a corpus of many small genomes.

For each genome size it writes a seeded, multi-contig BGZF FASTA into a temporary directory
(never into the repository): contig lengths in the proportions of the GRCh38 chromosomes
(chr1-22, X, Y, M: 25 records), N runs at the contig ends and inside (gaps), and soft-masked
(lowercase) stretches. It then measures:

* index build time (``GenomeFile``: .fai + .gzi) and ``GenomeDataModule.setup`` time;
* training windows per second at each window length, with 1 DataLoader worker and with 2;
* time to the first batch (loader start, worker start-up and the first batch);
* RSS of the main process and PSS/RSS of each worker after the measurement, to show memory
  does not grow with the genome size;
* what one training step consumes: windows/s of forward + backward + AdamW at the default
  model width (d_model 128, 4 layers) and 1 kb windows, and the loader/step ratio (target >= 10).

Then a corpus of many small BGZF genomes listed in a species TSV: start-up time (validating
and reading every index) for half and all of the corpus (linear means the ratio is ~2), open
file descriptors in the main process and in the workers while windows are drawn from all
genomes (bounded by ``GENOMAMBA_MAX_OPEN_FASTA``), and windows per second.

Prints one JSON object. Sizes are parameters; the defaults are the full-scale run
(5 Mb .. 3.1 Gb, about 1 GB of BGZF and 10-20 minutes to write on 2 cores):

    python benchmarks/bench_data.py
    python benchmarks/bench_data.py --sizes-mb 5 50 --seconds 3 --corpus-files 200   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genomamba.data import GenomeDataModule
from genomamba.data.fasta import OPEN_FASTAS, GenomeFile, open_genomes

# GRCh38 chromosome lengths in Mb (chr1..22, X, Y; chrM 16,569 bp), from the GRC assembly
# statistics; used only as proportions for the synthetic contigs.
GRCH38_MB = [
    248.96, 242.19, 198.30, 190.21, 181.54, 170.81, 159.35, 145.14, 138.39, 133.80, 135.09, 133.28,
    114.36, 107.04, 101.99, 90.34, 83.26, 80.37, 58.62, 64.44, 46.71, 50.82, 156.04, 57.23,
]
CHRM_BP = 16_569
LINE = 60
UPPER, LOWER = np.frombuffer(b"ACGT", np.uint8), np.frombuffer(b"acgt", np.uint8)


# ----------------------------------------------------------------------------- synthetic genomes
def contig_lengths(total_bp: int, n_contigs: int) -> list[int]:
    """``n_contigs`` lengths summing to ``total_bp`` in GRCh38 proportions (a chrM-sized last one
    when there are 25 or more)."""
    props = np.array((GRCH38_MB * (n_contigs // len(GRCH38_MB) + 1))[: n_contigs - (n_contigs >= 25)])
    rest = total_bp - (CHRM_BP if n_contigs >= 25 else 0)
    lengths = np.maximum((props / props.sum() * rest).astype(np.int64), 1)
    lengths[0] += rest - lengths.sum()
    out = [int(x) for x in lengths]
    return out + ([CHRM_BP] if n_contigs >= 25 else [])


def _sequence(rng: np.random.Generator, n: int, gap_every: int) -> np.ndarray:
    """``n`` bases as ASCII: random ACGT, ~8% soft-masked in 50-2000 bp stretches, N runs of
    1-50 kb about every ``gap_every`` bases, and a 10 kb N run at both ends of long contigs."""
    seq = UPPER[rng.integers(0, 4, n, dtype=np.uint8)]
    n_soft = max(1, n // 12_000)
    starts, lens = rng.integers(0, n, n_soft), rng.integers(50, 2000, n_soft)
    for s, ln in zip(starts, lens, strict=True):
        seq[s : s + ln] |= 0x20  # ASCII lowercase
    for s in rng.integers(0, n, max(0, n // gap_every)):
        seq[s : s + int(rng.integers(1_000, 50_000))] = ord("N")
    if n > 200_000:
        seq[:10_000] = seq[-10_000:] = ord("N")
    return seq


def write_genome(path: Path, total_bp: int, n_contigs: int, seed: int, chunk: int = LINE * 100_000) -> None:
    """Write a BGZF FASTA (60 bases per line) of ``total_bp`` bases over ``n_contigs`` records,
    chunk by chunk, so memory stays at a few chunks whatever the size."""
    import pysam

    rng = np.random.default_rng(seed)
    with pysam.BGZFile(str(path), "wb") as out:
        for i, length in enumerate(contig_lengths(total_bp, n_contigs)):
            name = f"chr{i + 1}" if i < 24 or n_contigs < 25 else "chrM"
            out.write(f">{name} synthetic contig {i + 1}, {length} bp\n".encode())
            for c0 in range(0, length, chunk):  # chunk is a multiple of LINE: lines never split
                seq = _sequence(rng, min(chunk, length - c0), gap_every=5_000_000)
                full = len(seq) // LINE * LINE
                rows = np.hstack([seq[:full].reshape(-1, LINE), np.full((full // LINE, 1), ord("\n"), np.uint8)])
                out.write(rows.tobytes())
                if full < len(seq):
                    out.write(seq[full:].tobytes() + b"\n")


# ----------------------------------------------------------------------------- process memory and fds
def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(pid: int) -> dict[str, float]:
    return {"rss_mb": round(_status_kb(pid, "VmRSS") / 1024, 1), "pss_mb": round(_pss_kb(pid) / 1024, 1)}


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _worker_pids(iterator: Any) -> list[int]:
    return [w.pid for w in getattr(iterator, "_workers", [])]


# ----------------------------------------------------------------------------- measurements
def measure_loader(dm: GenomeDataModule, seconds: float, fd_probe: bool = False) -> dict[str, Any]:
    """Windows/s of the training loader after its first batch, time to that batch, memory."""
    t0 = time.perf_counter()
    it = iter(dm.train_dataloader())
    batch = next(it)
    first = time.perf_counter() - t0
    n, peak_fds = 0, {}
    t1 = time.perf_counter()
    while time.perf_counter() - t1 < seconds:
        batch = next(it)
        n += batch["input_ids"].shape[0]
        if fd_probe:
            for pid in [os.getpid(), *_worker_pids(it)]:
                peak_fds[pid] = max(peak_fds.get(pid, 0), open_fds(pid))
    elapsed = time.perf_counter() - t1
    workers = _worker_pids(it)
    out: dict[str, Any] = {
        "window_length": dm.window_length,
        "num_workers": dm.num_workers,
        "batch_size": dm.batch_size,
        "windows_per_s": round(n / elapsed, 1),
        "mb_per_s": round(n * dm.window_length / elapsed / 1e6, 2),
        "first_batch_s": round(first, 3),
        "main": memory(os.getpid()),
        "workers": [memory(pid) for pid in workers],
    }
    if fd_probe:
        out["peak_open_fds_main"] = peak_fds.get(os.getpid(), open_fds(os.getpid()))
        out["peak_open_fds_workers"] = [peak_fds.get(pid, 0) for pid in workers]
    del it  # shuts the workers down
    return out


def measure_step(window_length: int, batch_size: int, steps: int) -> dict[str, Any]:
    """Windows/s one training step consumes: forward + backward + AdamW at the default model
    (d_model 128, 4 layers), causal LM loss, after one warm-up step."""
    import torch.nn.functional as F

    from genomamba.models import GenomambaConfig, GenomambaLM

    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, 4, (batch_size, window_length))

    def step() -> None:
        logits = model(ids).logits[:, :-1]
        loss = F.cross_entropy(logits.transpose(1, 2).float(), ids[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t) / steps
    return {
        "d_model": model.config.d_model,
        "n_layer": model.config.n_layer,
        "window_length": window_length,
        "batch_size": batch_size,
        "step_s": round(dt, 4),
        "windows_per_s": round(batch_size / dt, 2),
        "torch_threads": torch.get_num_threads(),
    }


def bench_genome(workdir: Path, size_mb: float, args: argparse.Namespace) -> dict[str, Any]:
    path = workdir / f"genome_{size_mb:g}mb.fa.gz"
    t = time.perf_counter()
    write_genome(path, int(size_mb * 1e6), args.contigs, seed=args.seed)
    generate_s = time.perf_counter() - t
    t = time.perf_counter()
    genome = GenomeFile(path)
    index_s = time.perf_counter() - t
    records = len(genome.lengths)
    genome.close()
    loaders = []
    setup_s = None
    for length in args.lengths:
        for workers in args.workers:
            batch = max(1, args.batch_bases // length)
            # The training loader only: no held-out split, so 32 kb windows fit small genomes too.
            dm = GenomeDataModule(
                path, window_length=length, batch_size=batch, num_workers=workers, seed=args.seed,
                train_samples_per_epoch=10**8, val_fraction=0.0,
            )
            t = time.perf_counter()
            dm.setup("fit")
            setup_s = setup_s or round(time.perf_counter() - t, 3)
            loaders.append(measure_loader(dm, args.seconds))
    # Setup with the default 5% held-out tail of every record, tiled at 1 kb (N filter included).
    dm = GenomeDataModule(path, window_length=1000, seed=args.seed, max_val_windows=args.max_val_windows)
    t = time.perf_counter()
    dm.setup("fit")
    val_setup_s = time.perf_counter() - t
    n_val = len(dm.datasets["val"])
    del dm
    return {
        "size_mb": size_mb,
        "records": records,
        "bgzf_mb": round(path.stat().st_size / 1e6, 1),
        "generate_s": round(generate_s, 2),
        "index_build_s": round(index_s, 3),
        "datamodule_setup_s": setup_s,
        "datamodule_setup_with_val_s": round(val_setup_s, 3),
        "val_windows": n_val,
        "loaders": loaders,
    }


def bench_corpus(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    import pysam

    root = workdir / "corpus"
    root.mkdir()
    rng = np.random.default_rng(args.seed)
    rows = []
    for i in range(args.corpus_files):
        p = root / f"genome_{i:05d}.fa.gz"
        seq = _sequence(rng, args.corpus_kb * 1000, gap_every=10**9)
        with pysam.BGZFile(str(p), "wb") as out:
            out.write(f">contig_{i}\n".encode())
            full = len(seq) // LINE * LINE
            out.write(np.hstack([seq[:full].reshape(-1, LINE), np.full((full // LINE, 1), 10, np.uint8)]).tobytes())
            out.write(seq[full:].tobytes() + b"\n")
        rows.append(f"{p.name}\tspecies_{i % args.corpus_species}\tstrain_{i}")
    half = root / "half.tsv"
    full = root / "all.tsv"
    half.write_text("path\tspecies\tstrain\n" + "\n".join(rows[: len(rows) // 2]) + "\n")
    full.write_text("path\tspecies\tstrain\n" + "\n".join(rows) + "\n")

    fds0 = open_fds(os.getpid())
    t = time.perf_counter()
    open_genomes(full)  # first open: builds every .fai/.gzi
    index_s = time.perf_counter() - t
    startup = {}
    for name, table in (("half", half), ("all", full)):
        t = time.perf_counter()
        files, _ = open_genomes(table)
        startup[name] = time.perf_counter() - t
        fds_after_open = open_fds(os.getpid()) - fds0
        del files
    dm = GenomeDataModule(
        full, window_length=args.corpus_window, batch_size=32, num_workers=2, seed=args.seed,
        train_samples_per_epoch=10**8, val_fraction=0.0,
    )
    t = time.perf_counter()
    dm.setup("fit")
    setup_s = time.perf_counter() - t
    loader = measure_loader(dm, args.seconds, fd_probe=True)
    return {
        "files": args.corpus_files,
        "genome_kb": args.corpus_kb,
        "species": args.corpus_species,
        "index_build_s": round(index_s, 2),
        "startup_s": {k: round(v, 3) for k, v in startup.items()},
        "startup_ratio_all_vs_half": round(startup["all"] / max(startup["half"], 1e-9), 2),
        "datamodule_setup_s": round(setup_s, 2),
        "max_open_fasta": OPEN_FASTAS.max_open,
        "open_fds_after_open_genomes": fds_after_open,
        "loader": loader,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes-mb", type=float, nargs="+", default=[5, 100, 1000, 3100])
    ap.add_argument("--contigs", type=int, default=25)
    ap.add_argument("--lengths", type=int, nargs="+", default=[1000, 32000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-bases", type=int, default=65536, help="batch size = batch_bases // window length")
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring time per loader")
    ap.add_argument("--max-val-windows", type=int, default=1024)
    ap.add_argument("--step-batch", type=int, default=8, help="training-step batch (1 kb windows)")
    ap.add_argument("--step-repeats", type=int, default=5)
    ap.add_argument("--corpus-files", type=int, default=2000, help="0 skips the corpus")
    ap.add_argument("--corpus-kb", type=int, default=50)
    ap.add_argument("--corpus-species", type=int, default=100)
    ap.add_argument("--corpus-window", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="parent of the temporary directory (default: $TMPDIR)")
    args = ap.parse_args()

    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="genomamba-bench-data-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        if workdir.resolve().is_relative_to(repo):
            sys.exit(f"bench_data: {workdir} is inside the repository; pass --workdir outside it")
        # pyfaidx must not find a stale cache of another run: indexes are built next to the files.
        genomes = [bench_genome(workdir, size, args) for size in args.sizes_mb]
        step = measure_step(1000, args.step_batch, args.step_repeats)
        corpus = bench_corpus(workdir, args) if args.corpus_files > 0 else None

    def rate(g: dict[str, Any], length: int, workers: int) -> float | None:
        return next((x["windows_per_s"] for x in g["loaders"] if x["window_length"] == length and x["num_workers"] == workers), None)

    one_worker_1kb = [rate(g, 1000, 1) for g in genomes]
    smallest, largest = genomes[0], genomes[-1]
    rss = {
        "main_mb": [g["loaders"][-1]["main"]["rss_mb"] for g in genomes],
        "worker_pss_mb": [max((w["pss_mb"] for w in g["loaders"][-1]["workers"]), default=None) for g in genomes],
        "sizes_mb": [g["size_mb"] for g in genomes],
    }
    ratio = min((r for r in one_worker_1kb if r), default=0.0) / step["windows_per_s"]
    print(json.dumps({
        "benchmark": "bench_data",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(), "platform": platform.platform()},
        "genomes": genomes,
        "train_step": step,
        "corpus": corpus,
        "summary": {
            "loader_windows_per_s_1kb_1worker": one_worker_1kb,
            "step_windows_per_s_1kb": step["windows_per_s"],
            "loader_over_step_min": round(ratio, 1),
            "target_loader_over_step": 10,
            "rss_by_size": rss,
            "main_rss_growth_mb": round(largest["loaders"][-1]["main"]["rss_mb"] - smallest["loaders"][-1]["main"]["rss_mb"], 1),
        },
    }, indent=2))


if __name__ == "__main__":
    main()
