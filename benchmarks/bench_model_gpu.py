"""Whole models on one CUDA device: time per token of a training step and of inference, eager and
replayed as a CUDA graph, for the Mamba, hybrid and full-attention models of ``bench_model.py``
(d_model 128, 4 layers, batch 2), with each Triton scan implementation for the models that scan.

Prints one JSON document. Each (model, implementation) runs in its own process (its own
``GENOMAMBA_TRITON_SCAN``) over all lengths; peak memory is ``torch.cuda.max_memory_allocated``
reset per length.

    python benchmarks/bench_model_gpu.py --out model_gpu.json
    python benchmarks/bench_model_gpu.py --models mamba transformer --lengths 1024 4096

Launch overhead. A small model at L = 1k runs hundreds of short kernels per step; the host's
launch time can exceed their run time. The same step is therefore also captured once as a CUDA
graph (``torch.cuda.graph``; AdamW with ``capturable=True``, static input and loss buffers) and
replayed: ``launch_overhead_frac`` = 1 - graph time / eager time is the share of the eager step
spent waiting on launches. Where capture fails (an operation that synchronises with the host), the
row says why and keeps the eager figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LENGTHS = [1024, 4096, 16384, 65536]
MODELS = ("mamba", "hybrid", "transformer")
SCANS = {"mamba": True, "hybrid": True, "transformer": False}


def _bench_model_module():
    spec = importlib.util.spec_from_file_location("bench_model", HERE / "bench_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _time_ms(fn, min_ms: float = 200.0, max_reps: int = 20) -> float:
    """Median wall time of ``fn`` (synchronised), repeats sized by a first timed call."""
    import torch

    def once() -> float:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return 1e3 * (time.perf_counter() - t0)

    first = once()
    reps = max(3, min(max_reps, int(min_ms / max(first, 1e-3))))
    return statistics.median([once() for _ in range(reps)])


def _graphed(step, warmup: int = 3):
    """Capture ``step`` (no arguments, static buffers) as a CUDA graph; returns replay()."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def measure(model_name: str, lengths: list[int], batch: int, graphs: bool, deadline: float | None = None) -> dict:
    """Train and infer time per token (eager, CUDA graph) and peak memory per length, in-process.
    Lengths not started by ``deadline`` (``time.time()``) are reported as skipped."""
    import torch
    import torch.nn.functional as F

    bm = _bench_model_module()
    torch.manual_seed(0)
    model, forward = bm._build(model_name)
    model.cuda()
    results = {}
    for L in lengths:
        row: dict = {"status": "ok"}
        if deadline is not None and time.time() > deadline:
            results[str(L)] = {"status": "skipped", "reason": "time budget spent"}
            continue
        try:
            ids = torch.randint(0, 4, (batch, L), device="cuda")
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=True)

            def train_step():
                logits = forward(ids)
                loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1))
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=False)

            def infer():
                with torch.no_grad():
                    forward(ids)

            train_step()  # compile / allocate
            infer()
            torch.cuda.reset_peak_memory_stats()
            row["train_ms"] = _time_ms(train_step)
            row["peak_mem_train_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            torch.cuda.reset_peak_memory_stats()
            row["infer_ms"] = _time_ms(infer)
            row["peak_mem_infer_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            if graphs:
                for name, fn in (("train", train_step), ("infer", infer)):
                    try:
                        row[f"{name}_graph_ms"] = _time_ms(_graphed(fn))
                        row[f"{name}_launch_overhead_frac"] = round(1 - row[f"{name}_graph_ms"] / row[f"{name}_ms"], 3)
                    except Exception as e:  # noqa: BLE001 - any capture failure is reported, not fatal
                        row[f"{name}_graph_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                        torch.cuda.synchronize()
            tokens = batch * L
            for key in ("train_ms", "infer_ms", "train_graph_ms", "infer_graph_ms"):
                if key in row:
                    row[key.replace("_ms", "_us_per_token")] = round(1e3 * row[key] / tokens, 4)
        except torch.cuda.OutOfMemoryError as e:
            row = {"status": "oom", "error": str(e).splitlines()[0][:300]}
        except Exception as e:  # noqa: BLE001 - one length failing must not lose the others
            row = {"status": "failed", "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
        results[str(L)] = row
        print(f"[bench_model_gpu] {model_name} L={L}: {row}", file=sys.stderr)
        torch.cuda.empty_cache()
    return results


def summarize(results: dict[str, dict[str, dict]], lengths: list[int]) -> dict:
    """Per-token ratios the issue's targets read: attention over Mamba at 1k and 64k, eager and graphed."""
    def get(key: str, L: int, field: str) -> float | None:
        row = results.get(key, {}).get(str(L), {})
        return row.get(field) if row.get("status") == "ok" else None

    out: dict = {}
    for impl in ("v1", "chunked"):
        for field in ("train_us_per_token", "train_graph_us_per_token"):
            for L in lengths:
                m, t = get(f"mamba/{impl}", L, field), get("transformer", L, field)
                if m is not None and t is not None:
                    out[f"attention_over_mamba_{field}_L{L}_{impl}"] = round(t / m, 3)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--impls", nargs="+", choices=("v1", "chunked"), default=["v1", "chunked"])
    p.add_argument("--lengths", type=int, nargs="+", default=LENGTHS)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--no-graphs", dest="graphs", action="store_false", help="eager times only")
    p.add_argument("--point-timeout", type=float, default=300.0, help="seconds per (model, implementation) process")
    p.add_argument("--time-budget-s", type=float, default=None,
                   help="start no length after this many seconds (each process stops between lengths)")
    p.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    lengths = sorted(args.lengths)
    if args.worker:
        print(json.dumps(measure(args.worker, lengths, args.batch, args.graphs, args.deadline)))
        return 0

    import torch

    runs = [(m, impl) for m in args.models for impl in (args.impls if SCANS[m] else [None])]
    results: dict[str, dict] = {}
    start = time.time()
    for i, (model, impl) in enumerate(runs):
        # Each process gets an equal share of what is left of the budget.
        deadline = None if args.time_budget_s is None else (
            time.time() + (args.time_budget_s - (time.time() - start)) / (len(runs) - i))
        key = f"{model}/{impl}" if impl else model
        env = dict(os.environ, **({"GENOMAMBA_TRITON_SCAN": impl} if impl else {}))
        cmd = [sys.executable, __file__, "--worker", model, "--batch", str(args.batch), "--lengths", *map(str, lengths)]
        if not args.graphs:
            cmd.append("--no-graphs")
        if deadline is not None:
            cmd += ["--deadline", str(deadline)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.point_timeout)
            sys.stderr.write(res.stderr[-4000:])
            results[key] = (json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else
                            {"error": {"status": "failed", "returncode": res.returncode,
                                       "stderr_tail": res.stderr.strip().splitlines()[-3:]}})
        except subprocess.TimeoutExpired:
            results[key] = {"error": {"status": "timeout", "timeout_s": args.point_timeout}}
    report = {
        "shape": {"d_model": 128, "n_layer": 4, "d_state": 16, "expand": 2, "batch": args.batch, "lengths": lengths,
                  "dtype": "float32 parameters and activations"},
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__, "python": platform.python_version(),
        "timing": ("median wall time of synchronised repeats after one untimed call per length; train step = "
                   "forward + cross-entropy + backward + AdamW(capturable) step; infer = forward under no_grad; "
                   "*_graph_* = the same step captured once as a CUDA graph and replayed"),
        "results": results,
        "summary": summarize(results, lengths),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
