"""Benchmark whole models: training step, inference forward and peak memory over sequence length.

Prints one JSON document comparing, side by side in one run and at the same shape
(d_model 128, 4 layers, batch 2, next-token loss, AdamW step):

* ``mamba``        genomamba's causal Mamba LM (numba selective scan on CPU, Triton on CUDA);
* ``hybrid``       the shipped ``model=hybrid`` layout: layer 2 of 4 is sliding-window attention (W=256);
* ``transformer``  the same width and depth with every layer full causal attention (RoPE, SDPA);
* ``hf_mamba``     HuggingFace transformers' ``MambaForCausalLM`` (its pure-PyTorch path on CPU).

Every (model, L) point runs in its own subprocess under a wall-clock cap (``--point-timeout``),
so a model that grows quadratically stops where it runs out of time; longer lengths of that
model are then reported as skipped rather than run. Peak memory on CPU is the growth of the
process's peak RSS over its value after warm-up; on CUDA it is ``max_memory_allocated``.
On Linux the measured processes run with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``, as the
``genomamba`` CLI does for itself (``--no-hugepages`` to measure without).

    python benchmarks/bench_model.py                           # all models, L 256 .. 65536
    python benchmarks/bench_model.py --models mamba --lengths 1024 4096
    python benchmarks/bench_model.py --device cuda             # GPU (hf_mamba uses its own kernels if installed)

``--floor`` measures instead how much the selective scan costs a training step: the same model and
step run with the scan replaced by an identity of the same shapes (``floor_scan``: out = u + delta
+ z, plus a zero that routes a gradient to A, B, C, D and the bias, so every other op, the
projections, conv, norms, attention, loss and AdamW step, runs unchanged). Full and floor steps
alternate in one process (full, floor, floor, full, ...) on the same model and batch; the JSON
gives tokens/s of each, and their ratio as the median of the per-pair ratios, for the causal Mamba,
the hybrid (attention at layers 1 and 3, window 256), periodic states (``ssm_periods=[3, 3]``)
and the relative-track model, d_model 128 x 4 layers, at batch x length 8 x 1,024, 2 x 4,096 and
1 x 65,536 (chunked CPU path; time per token should stay flat):

    python benchmarks/bench_model.py --floor
    python benchmarks/bench_model.py --floor --floor-models mamba --floor-shapes 8x1024 --pairs 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

MODELS = ("mamba", "hybrid", "transformer", "hf_mamba")
D_MODEL, N_LAYER, D_STATE, EXPAND, D_CONV = 128, 4, 16, 2, 4
# --floor: the models of the CPU training-speed targets (GenomambaConfig overrides).
FLOOR_MODELS = {
    "mamba": {},
    "hybrid": {"attn_layers": [1, 3], "attn_window": 256},
    "periodic": {"ssm_periods": [3, 3]},
    "track": {"relative_track": True},
}
FLOOR_SHAPES = ("8x1024", "2x4096", "1x65536")


def floor_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
               return_last_state=False, initial_state=None, backend="auto"):
    """The scan's shapes and gradient paths at almost no cost: out (b, d, L) = u + delta (+ z),
    plus a zero scalar built from A, B, C, D and the bias so that each still gets a gradient;
    last state = initial state (or zeros) plus the same zero."""
    del delta_softplus, backend
    zero = sum(t.sum() for t in (A, B, C, D, delta_bias) if t is not None) * 0.0
    out = u + delta if z is None else u + delta + z
    out = out + zero.to(out.dtype)
    if not return_last_state:
        return out
    batch, d, n = u.shape[0], u.shape[1], A.shape[1]
    h0 = initial_state if initial_state is not None else u.new_zeros(batch, d, n, dtype=zero.dtype)
    return out, h0 + zero


def _rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _build(name: str):
    """Returns (model, forward(ids) -> logits)."""
    if name == "hf_mamba":
        import transformers

        cfg = transformers.MambaConfig(
            vocab_size=16, hidden_size=D_MODEL, state_size=D_STATE, num_hidden_layers=N_LAYER,
            expand=EXPAND, conv_kernel=D_CONV, use_cache=False,
        )
        model = transformers.MambaForCausalLM(cfg)
        return model, lambda ids: model(input_ids=ids, use_cache=False).logits

    from genomamba.models import GenomambaConfig, GenomambaLM

    variant = {
        "mamba": {},
        "hybrid": {"attn_layers": [2], "attn_window": 256},  # = configs/model/hybrid.yaml
        "transformer": {"attn_layers": list(range(N_LAYER)), "attn_window": None},
    }[name]
    cfg = GenomambaConfig(d_model=D_MODEL, n_layer=N_LAYER, d_state=D_STATE, expand=EXPAND, d_conv=D_CONV, **variant)
    model = GenomambaLM(cfg)
    return model, lambda ids: model(ids).logits


def _floor_worker(args: argparse.Namespace) -> dict:
    """One (model, batch x L) point of --floor: full and floor training steps alternating."""
    import contextlib

    import torch
    import torch.nn.functional as F

    import genomamba.models.mixer as mixer_module
    from genomamba.models import GenomambaConfig, GenomambaLM

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.manual_seed(0)
    cfg = GenomambaConfig(d_model=D_MODEL, n_layer=args.n_layer, d_state=D_STATE, expand=EXPAND, d_conv=D_CONV,
                          **FLOOR_MODELS[args.model])
    model = GenomambaLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)  # as genomamba train on CPU
    ids = torch.randint(0, 4, (args.batch, args.L))
    extra = {"track_ids": torch.randint(0, 5, (args.batch, args.L))} if cfg.relative_track else {}

    @contextlib.contextmanager
    def scan_as(fn):
        real = mixer_module.selective_scan
        mixer_module.selective_scan = fn
        try:
            yield
        finally:
            mixer_module.selective_scan = real

    def step(floor: bool) -> float:
        with scan_as(floor_scan) if floor else contextlib.nullcontext():
            t0 = clock()
            logits = model(ids, **extra).logits
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return clock() - t0

    step(False)  # warm-up: numba cache load / JIT, allocator, optimiser state, first-touch pages
    step(True)
    full: list[float] = []
    floor: list[float] = []
    t_start = time.perf_counter()
    for i in range(args.pairs):
        for is_floor in ((False, True) if i % 2 == 0 else (True, False)):
            (floor if is_floor else full).append(step(is_floor))
        if time.perf_counter() - t_start > args.repeat_budget_s and i >= 2:
            break
    tokens = args.batch * args.L
    full_s, floor_s = statistics.median(full), statistics.median(floor)
    return {
        "status": "ok",
        "params": sum(p.numel() for p in model.parameters()),
        "full_tokens_per_s": round(tokens / full_s),
        "floor_tokens_per_s": round(tokens / floor_s),
        "full_over_floor": round(statistics.median(a / b for a, b in zip(full, floor, strict=True)), 3),
        "full_step_s": round(full_s, 4),
        "floor_step_s": round(floor_s, 4),
        "full_us_per_token": round(1e6 * full_s / tokens, 3),
        "floor_us_per_token": round(1e6 * floor_s / tokens, 3),
        "pairs": len(full),
        "full_steps_s": [round(t, 4) for t in full],
        "floor_steps_s": [round(t, 4) for t in floor],
    }


def _floor_main(args: argparse.Namespace) -> dict:
    import numba
    import torch

    shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.floor_shapes]
    results: dict[str, dict[str, dict]] = {}
    for model in args.floor_models:
        results[model] = {}
        for batch, L in shapes:
            cmd = [sys.executable, __file__, "--worker", "--floor", "--model", model, "--L", str(L), "--batch",
                   str(batch), "--pairs", str(args.pairs), "--repeat-budget-s", str(args.repeat_budget_s),
                   "--threads", str(args.threads), "--clock", args.clock, "--n-layer", str(args.n_layer)]
            env = dict(os.environ)
            if args.hugepages and sys.platform.startswith("linux"):
                env.setdefault("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.point_timeout, env=env)
            except subprocess.TimeoutExpired:
                row = {"status": "timeout", "timeout_s": args.point_timeout}
            else:
                if res.returncode != 0:
                    row = {"status": "failed", "returncode": res.returncode,
                           "stderr_tail": (res.stderr or res.stdout).strip().splitlines()[-3:]}
                else:
                    row = json.loads(res.stdout.strip().splitlines()[-1])
            results[model][f"{batch}x{L}"] = row
            print(f"[bench_model --floor] {model} {batch}x{L}: {row.get('status')} full "
                  f"{row.get('full_tokens_per_s')} tok/s, floor {row.get('floor_tokens_per_s')} tok/s, "
                  f"ratio {row.get('full_over_floor')}", file=sys.stderr)

    def get(model: str, shape: str, key: str):
        row = results.get(model, {}).get(shape, {})
        return row.get(key) if row.get("status") == "ok" else None

    summary: dict = {}
    for model in results:
        lo, hi = get(model, "8x1024", "full_us_per_token"), get(model, "1x65536", "full_us_per_token")
        # 1.0 = time per token flat from 8 x 1 kb to 1 x 64 kb
        summary[f"{model}_full_us_per_token_ratio_64k_vs_8x1k"] = _ratio(hi, lo)
    summary["targets"] = {
        "mamba_8x1024_tokens_per_s>=25000": _at_least(get("mamba", "8x1024", "full_tokens_per_s"), 25000),
        "mamba_8x1024_full_over_floor<=1.4": _at_most(get("mamba", "8x1024", "full_over_floor"), 1.4),
        "hybrid_8x1024_tokens_per_s>=28000": _at_least(get("hybrid", "8x1024", "full_tokens_per_s"), 28000),
    }
    return {
        "what": "training step (forward, next-token cross-entropy, backward, AdamW) with the selective scan "
                "(full) and with the scan replaced by floor_scan, an identity of the same shapes (floor)",
        "shape": {"d_model": D_MODEL, "n_layer": args.n_layer, "d_state": D_STATE, "expand": EXPAND,
                  "dtype": "float32", "batch_x_length": args.floor_shapes},
        "models": {m: FLOOR_MODELS[m] for m in args.floor_models},
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "numba": numba.__version__, "python": platform.python_version(),
                    "torch_threads": args.threads or os.cpu_count(), "clock": args.clock},
        "timing": ("per point, one untimed full and floor step, then up to --pairs (full, floor) pairs in "
                   "alternating order; step times are medians, full_over_floor the median of per-pair ratios"),
        "results": results,
        "summary": summary,
    }


def _at_least(value: float | None, bound: float) -> bool | None:
    return None if value is None else value >= bound


def _at_most(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


def _worker(args: argparse.Namespace) -> dict:
    import torch
    import torch.nn.functional as F

    cuda = args.device == "cuda"
    dev = torch.device(args.device)
    if not cuda:
        torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    model, forward = _build(args.model)
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def train_step(ids):
        logits = forward(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def infer(ids):
        with torch.no_grad():
            forward(ids)

    def timed(fn, ids) -> list[float]:
        # The first run at a new length pays one-off costs (allocator growth, first-touch pages);
        # it is dropped unless it takes over a quarter of the point's time cap, in which case it
        # is the only sample.
        sync()
        t0 = time.perf_counter()
        fn(ids)
        sync()
        first = time.perf_counter() - t0
        if first > args.point_timeout / 4:
            return [first]
        times: list[float] = []
        while len(times) < args.repeats and (not times or sum(times) < args.repeat_budget_s):
            sync()
            t0 = time.perf_counter()
            fn(ids)
            sync()
            times.append(time.perf_counter() - t0)
        return times

    ids = torch.randint(0, 4, (args.batch, args.L), device=dev)
    # Warm-up at a short length: numba cache load / JIT, allocator and optimiser state init.
    warm = torch.randint(0, 4, (args.batch, 64), device=dev)
    train_step(warm)
    infer(warm)
    base = _rss_mb()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    infer_times = timed(infer, ids)
    peak_infer = torch.cuda.max_memory_allocated() / 2**20 if cuda else _rss_mb() - base
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    train_times = timed(train_step, ids)
    peak_train = torch.cuda.max_memory_allocated() / 2**20 if cuda else _rss_mb() - base
    tokens = args.batch * args.L
    train_s, infer_s = statistics.median(train_times), statistics.median(infer_times)
    return {
        "status": "ok",
        "params": sum(p.numel() for p in model.parameters()),
        "train_step_s": round(train_s, 4),
        "train_us_per_token": round(1e6 * train_s / tokens, 3),
        "infer_s": round(infer_s, 4),
        "infer_us_per_token": round(1e6 * infer_s / tokens, 3),
        "peak_mem_train_mb": round(peak_train, 1),
        "peak_mem_infer_mb": round(peak_infer, 1),
        "repeats": {"train": len(train_times), "infer": len(infer_times)},
    }


def _run_point(args: argparse.Namespace, model: str, L: int) -> dict:
    cmd = [
        sys.executable, __file__, "--worker", "--model", model, "--L", str(L), "--batch", str(args.batch),
        "--device", args.device, "--repeats", str(args.repeats), "--repeat-budget-s", str(args.repeat_budget_s),
        "--point-timeout", str(args.point_timeout),
    ]
    env = dict(os.environ)
    if args.hugepages and sys.platform.startswith("linux"):
        # What the genomamba CLI sets for itself (genomamba/apps/cli.py); applied to every model alike.
        env.setdefault("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.point_timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "timeout_s": args.point_timeout}
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        return {"status": "failed", "returncode": res.returncode, "stderr_tail": tail}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["wall_s_incl_startup"] = round(time.perf_counter() - t0, 1)
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _summary(results: dict[str, dict[int, dict]], lengths: list[int]) -> dict:
    def get(model: str, L: int, key: str) -> float | None:
        row = results.get(model, {}).get(L, {})
        return row.get(key) if row.get("status") == "ok" else None

    short, lo, hi = min(lengths), min((L for L in lengths if L >= 1024), default=None), max(lengths)
    out: dict = {}
    out[f"train_step_speedup_mamba_vs_hf_mamba_L{short}"] = _ratio(
        get("hf_mamba", short, "train_step_s"), get("mamba", short, "train_step_s"))
    out[f"infer_speedup_mamba_vs_hf_mamba_L{short}"] = _ratio(
        get("hf_mamba", short, "infer_s"), get("mamba", short, "infer_s"))
    for model in results:
        if lo is not None:
            # 1.0 = time per token flat in L; 64.0 at 1k -> 64k would be quadratic.
            out[f"{model}_train_us_per_token_ratio_L{hi}_vs_L{lo}"] = _ratio(
                get(model, hi, "train_us_per_token"), get(model, lo, "train_us_per_token"))
            # Linear memory: peak / L constant -> this ratio ~1.
            m_hi, m_lo = get(model, hi, "peak_mem_train_mb"), get(model, lo, "peak_mem_train_mb")
            out[f"{model}_train_mem_per_token_ratio_L{hi}_vs_L{lo}"] = (
                _ratio(m_hi / hi, m_lo / lo) if m_hi is not None and m_lo else None)
        done = [L for L in lengths if get(model, L, "train_step_s") is not None]
        out[f"{model}_longest_L_finished"] = max(done) if done else None
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096, 16384, 65536])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per point (fewer when slow)")
    p.add_argument("--repeat-budget-s", type=float, default=20.0,
                   help="stop repeating once this many seconds of a measurement are spent")
    p.add_argument("--point-timeout", type=float, default=300.0,
                   help="wall-clock cap per (model, L) point, build and warm-up included")
    p.add_argument("--no-hugepages", dest="hugepages", action="store_false",
                   help="do not set GLIBC_TUNABLES=glibc.malloc.hugetlb=1 for the measured processes")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--floor", action="store_true",
                   help="full training step against the same step without the selective scan (see above)")
    p.add_argument("--floor-models", nargs="+", choices=list(FLOOR_MODELS), default=list(FLOOR_MODELS))
    p.add_argument("--floor-shapes", nargs="+", default=list(FLOOR_SHAPES), metavar="BATCHxL")
    p.add_argument("--pairs", type=int, default=5, help="--floor: timed (full, floor) step pairs per point")
    p.add_argument("--threads", type=int, default=0, help="--floor: torch (and numba) threads; 0 = all cores")
    p.add_argument("--n-layer", type=int, default=N_LAYER,
                   help="--floor: layers (3 = experiment=bundled_long's model, to set beside genomamba train)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="--floor: wall-clock time (default), or the process's CPU time, steadier for "
                        "comparisons on a machine that other jobs share (tokens/s then per CPU-second)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", default="mamba", help=argparse.SUPPRESS)
    p.add_argument("--L", type=int, default=256, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(_floor_worker(args) if args.floor else _worker(args)))
        return
    if args.floor:
        text = json.dumps(_floor_main(args), indent=2)
        print(text)
        if args.out:
            with open(args.out, "w") as fh:
                fh.write(text + "\n")
        return

    import torch

    lengths = sorted(args.lengths)
    results: dict[str, dict[int, dict]] = {m: {} for m in args.models}
    for model in args.models:
        stopped_at = None
        for L in lengths:
            if stopped_at is not None:
                results[model][L] = {"status": "skipped", "reason": f"L={stopped_at} did not finish"}
                continue
            row = _run_point(args, model, L)
            results[model][L] = row
            print(f"[bench_model] {model} L={L}: {row.get('status')} "
                  f"train {row.get('train_step_s')} s, infer {row.get('infer_s')} s", file=sys.stderr)
            if row["status"] != "ok":
                stopped_at = L
    report = {
        "shape": {"d_model": D_MODEL, "n_layer": N_LAYER, "d_state": D_STATE, "expand": EXPAND,
                  "batch": args.batch, "dtype": "float32", "lengths": lengths},
        "models": {
            "mamba": "genomamba GenomambaLM, causal Mamba",
            "hybrid": "genomamba GenomambaLM, layer 2 sliding-window attention W=256 (model=hybrid)",
            "transformer": "genomamba GenomambaLM with all 4 layers full causal attention (no MLP; same depth/width)",
            "hf_mamba": "transformers MambaForCausalLM (slow pure-PyTorch path unless mamba_ssm kernels exist)",
        },
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "device": args.device,
                    "torch": torch.__version__, "python": platform.python_version(),
                    "GLIBC_TUNABLES": (os.environ.get("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
                                       if args.hugepages and sys.platform.startswith("linux")
                                       else os.environ.get("GLIBC_TUNABLES"))},
        "timing": ("median of up to --repeats wall-clock runs per point after one untimed run at "
                   "that length (kept as the only sample when it takes over point_timeout_s / 4); "
                   "train step = forward + cross-entropy + backward + AdamW step; infer = forward "
                   "under no_grad"),
        "point_timeout_s": args.point_timeout,
        "results": {m: {str(L): r for L, r in rows.items()} for m, rows in results.items()},
        "summary": _summary(results, lengths),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
