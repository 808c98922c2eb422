"""Prototype: a genomamba LM that also reads a related species' aligned bases (prints one JSON
document; an experiment, not a timed test, and not a shipped feature).

``benchmarks/missense_ceiling.py`` shows that one aligned related genome carries the missense
signal our single-genome models lack (the ``relative_species`` reference). This script asks
whether a language model can use that input, as GPN-MSA reads a whole-genome alignment (Benegas
et al. 2025, Nat. Biotechnol., "A DNA language model based on multispecies alignment predicts
the effects of genome-wide variants"), in a form small enough for a CPU:

* **Input track.** :func:`~genomamba.downstream.homologs.aligned_relative_track` gives, at every
  position of the genome, the base its related genome has there (genes aligned to their best
  homolog through the protein), or N.
* **Model.** A shipped model (default ``ecoli536-mamba-periodic``) plus one embedding table for
  the track, added to the token embedding. The input at position t carries the track's base at
  t + 1, the position it predicts, so ``p(x_{t+1} | x_<=t, relative base at t + 1)`` stays
  causal in the genome's own bases. The new table starts at zero: step 0 is the shipped model.
* **Fine-tuning.** Random 1 kb windows of the training split of E. coli 536 (everything but the
  benchmark's last 5%), with K. pneumoniae MGH 78578 as the relative, both strands (a window and
  its track reverse-complemented together), next-base cross-entropy, AdamW.
* **Held out.** Bits/base on windows of E. coli 536's last 5%, with and without the track (an
  all-N track), and the gene benchmarks' zero-shot LLRs with the track: E. coli 536 (relative
  K. pneumoniae MGH 78578) and K. pneumoniae HS11286, a genome it never saw (relative E. coli 536,
  the roles swapped). Each is paired on the same items with the shipped model's LLR, the
  ``relative_species`` reference and the best Markov order.

    python benchmarks/track_model.py --out-dir runs/track_model --steps 600

The run resumes from ``OUT_DIR/checkpoint.pt`` when interrupted. About 0.7 s per step of 8 x 1 kb
on the 2-core CPU, and a few minutes per benchmark to score.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genomamba.data.tokenizer import COMPLEMENT_IDS

REPO = Path(__file__).resolve().parents[1]
ECOLI = REPO / "data/genomes/escherichia_coli_536.fa.gz"
KLEB_REL = REPO / "data/genomes/klebsiella_pneumoniae_MGH78578.fa.gz"
KLEB = REPO / "data/genomes/klebsiella_pneumoniae_HS11286.fa.gz"
BENCHMARKS = (  # (genome, benchmark prefix, relative)
    (ECOLI, REPO / "data/variants/ecoli536_genes_last5pct", KLEB_REL),
    (KLEB, REPO / "data/variants/kpneumoniae_HS11286_genes_last5pct", ECOLI),
)
N_CODE = 4
COMPLEMENT = torch.tensor(COMPLEMENT_IDS)  # the track's codes are token ids too (A, C, G, T, N)


class TrackConditioned(nn.Module):
    """A causal :class:`GenomambaLM` whose input embedding also gets ``track_embed(track[t + 1])``."""

    def __init__(self, lm: Any) -> None:
        super().__init__()
        if not lm.config.is_causal or lm.config.rc_equivariant:
            raise ValueError("the track prototype needs a causal, non-RC model")
        self.lm = lm
        self.track_embed = nn.Embedding(N_CODE + 1, lm.config.d_model)
        nn.init.zeros_(self.track_embed.weight)  # step 0 = the shipped model
        self._extra: torch.Tensor | None = None
        # the wrapped model called on its own (self._extra None) is left as it was
        lm.backbone.embeddings.register_forward_hook(
            lambda module, args, out: out if self._extra is None else out + self._extra)

    def forward(self, ids: torch.Tensor, track: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """ids, track: (B, L) (track codes 0..4, aligned with ids) -> logits (B, L, V)."""
        nxt = torch.cat([track[:, 1:], torch.full_like(track[:, :1], N_CODE)], dim=1)
        self._extra = self.track_embed(nxt)
        try:
            return self.lm(ids, attention_mask=mask).logits
        finally:
            self._extra = None


def reverse_complement(ids: torch.Tensor, track: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both strands of a window flip together: (B, L) ids (A,C,G,T,N = 0..4) and track."""
    return COMPLEMENT[ids].flip(-1), COMPLEMENT[track].flip(-1)


def next_base_nats(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(B, L-1) -log p(x_{t+1}) over A,C,G,T (renormalised), NaN where the target is N."""
    logp = torch.log_softmax(logits[:, :-1, :N_CODE].float(), dim=-1)
    target = ids[:, 1:]
    nll = -logp.gather(-1, target.clamp(max=3)[..., None])[..., 0]
    return torch.where(target < N_CODE, nll, torch.nan)


def make_tracks(out_dir: Path) -> dict[str, Any]:
    """Tracks of the two benchmark genomes (cached in ``out_dir``) and their counts."""
    from genomamba.data.fasta import GenomeFile
    from genomamba.downstream.homologs import aligned_relative_track

    out: dict[str, Any] = {}
    for genome, _, relative in BENCHMARKS:
        cache = out_dir / f"track_{genome.name.split('.')[0]}.npz"
        if not cache.exists():
            track, counts = aligned_relative_track(GenomeFile(genome), GenomeFile(relative))
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(tmp, counts=json.dumps(counts), **{f"rec{i}": t for i, t in enumerate(track.values())},
                     names=json.dumps(list(track)))
            os.replace(tmp, cache)
        z = np.load(cache)
        names = json.loads(str(z["names"]))
        out[str(genome)] = {"track": {n: z[f"rec{i}"] for i, n in enumerate(names)}, "counts": json.loads(str(z["counts"])),
                            "relative": str(relative.relative_to(REPO))}
    return out


def training_intervals(prefix: Path, genome: Any) -> tuple[list[Any], list[Any]]:
    """(the benchmark's held-out regions, the training split: everything else) of ``genome``."""
    from genomamba.downstream.gene_benchmark import complement_regions, parse_regions, read_benchmark_regions

    regions = parse_regions(read_benchmark_regions(f"{prefix}.vcf"), genome.lengths)
    return regions, complement_regions(regions, genome.lengths)


def sample_batch(rng: np.random.Generator, seqs: dict[str, np.ndarray], track: dict[str, np.ndarray],
                 intervals: list[Any], batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random windows inside ``intervals``, each reverse-complemented with p = 1/2."""
    sizes = np.array([max(iv.end - iv.start - length, 0) for iv in intervals], dtype=np.float64)
    ids, trk = [], []
    for _ in range(batch):
        iv = intervals[rng.choice(len(intervals), p=sizes / sizes.sum())]
        s = iv.start + int(rng.integers(0, iv.end - iv.start - length))
        ids.append(seqs[iv.contig][s : s + length])
        trk.append(track[iv.contig][s : s + length])
    x, t = torch.as_tensor(np.stack(ids)), torch.as_tensor(np.stack(trk))
    flip = torch.as_tensor(rng.random(batch) < 0.5)
    rx, rt = reverse_complement(x, t)
    return torch.where(flip[:, None], rx, x), torch.where(flip[:, None], rt, t)


def train(model: TrackConditioned, seqs: dict[str, np.ndarray], track: dict[str, np.ndarray], intervals: list[Any],
          steps: int, out_dir: Path, lr: float, batch: int, length: int, seed: int) -> dict[str, Any]:
    """Fine-tune with resume from ``out_dir/checkpoint.pt`` (written atomically every 50 steps)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    ckpt = out_dir / "checkpoint.pt"
    step, log = 0, []
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, log = state["step"], state["log"]
    rng = np.random.default_rng((seed, step))
    warmup = min(50, steps // 10)
    model.train()
    t0 = time.time()
    while step < steps:
        scale = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(steps - warmup, 1)))
        for g in opt.param_groups:
            g["lr"] = lr * scale
        x, t = sample_batch(rng, seqs, track, intervals, batch, length)
        nats = next_base_nats(model(x, t), x)
        loss = nats.nanmean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 10 == 0:
            log.append({"step": step, "bits_per_base": float(loss.detach()) / math.log(2), "s": round(time.time() - t0, 1)})
            print(json.dumps(log[-1]), flush=True)
        if step % 50 == 0 or step == steps:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "log": log}, tmp)
            os.replace(tmp, ckpt)
    model.eval()
    return {"steps": steps, "log": log}


@torch.inference_mode()
def heldout_bits(model: TrackConditioned, base: TrackConditioned, seqs: dict[str, np.ndarray],
                 track: dict[str, np.ndarray], regions: list[Any], n_windows: int, length: int, seed: int) -> dict[str, Any]:
    """Bits/base of ``n_windows`` held-out windows: the fine-tuned model with the track and with
    an all-N track, and the shipped model ``base`` (its track table is zero), paired over windows."""
    from genomamba.downstream.stats import paired_ratio_difference, ratio_ci

    rng = np.random.default_rng(seed)
    x, t = sample_batch(rng, seqs, track, regions, n_windows, length)
    all_n = torch.full_like(t, N_CODE)
    runs = {"with_track": (model, t), "all_n_track": (model, all_n), "shipped_model": (base, all_n)}
    bits, den = {}, None
    for name, (m, trk) in runs.items():
        nats = torch.cat([next_base_nats(m(x[i : i + 8], trk[i : i + 8]), x[i : i + 8]) for i in range(0, len(x), 8)])
        bits[name] = (torch.nan_to_num(nats).sum(1) / math.log(2)).numpy()
        den = (~torch.isnan(nats)).sum(1).numpy()
    out: dict[str, Any] = {"n_windows": n_windows, "window": length, "aligned_fraction": float((t < N_CODE).float().mean())}
    for k, v in bits.items():
        out[k] = ratio_ci(v, den, seed=seed)
    for k in ("all_n_track", "shipped_model"):
        out[f"with_track_minus_{k}"] = paired_ratio_difference(bits["with_track"], den, bits[k], den, seed=seed)
    return out


def snv_windows(genome: Any, track: dict[str, np.ndarray], labels: list[dict[str, Any]], window: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """REF windows, ALT windows and the track of each, ``(N, L)`` each, centred on every benchmark
    SNV as ``score-variants`` centres them (:func:`build_variant_windows`)."""
    from genomamba.downstream.variant_windows import build_variant_windows
    from genomamba.downstream.vcf import Variant

    variants = [Variant(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in labels]
    w = build_variant_windows(variants, genome, window)
    trk = [track[v.chrom][v.start - o : v.start - o + len(x)] for v, o, x in zip(variants, w.offset, w.ref, strict=True)]
    return (torch.as_tensor(np.stack(w.ref)).long(), torch.as_tensor(np.stack(w.alt)).long(),
            torch.as_tensor(np.stack(trk)))


@torch.inference_mode()
def snv_llr(model: TrackConditioned, ref: torch.Tensor, alt: torch.Tensor, track: torch.Tensor, use_track: bool
            ) -> np.ndarray:
    """Both-strand LLR (nats) of each SNV window pair of :func:`snv_windows`, REF and ALT with the
    same track (an all-N track unless ``use_track``)."""
    if not use_track:
        track = torch.full_like(track, N_CODE)
    llr = np.zeros(len(ref))
    for b in range(0, len(ref), 16):
        n = len(ref[b : b + 16])
        x = torch.cat([ref[b : b + 16], alt[b : b + 16]])
        t = torch.cat([track[b : b + 16]] * 2)
        total = 0
        for xs, ts in ((x, t), reverse_complement(x, t)):
            nll = torch.nan_to_num(next_base_nats(model(xs, ts), xs)).sum(1).double().numpy()
            total = total + (nll[:n] - nll[n:])  # log P(alt) - log P(ref)
        llr[b : b + n] = total / 2
    return llr


def evaluate_benchmark(model: TrackConditioned, base: TrackConditioned, genome_path: Path, prefix: Path,
                       track: dict[str, np.ndarray], window: int, orders: list[int], limit: int | None = None) -> dict[str, Any]:
    from genomamba.data.fasta import GenomeFile
    from genomamba.downstream.gene_benchmark import read_benchmark_labels
    from genomamba.downstream.gene_benchmark_metrics import (
        contrast_indices,
        markov_llr,
        scorer_metrics,
        substitution_type,
        transversion_rule,
    )
    from genomamba.downstream.homologs import relative_species_llr
    from genomamba.downstream.stats import paired_auroc_difference, paired_stratified_auroc_difference

    genome = GenomeFile(genome_path)
    labels = read_benchmark_labels(f"{prefix}.labels.tsv")
    if limit:  # a quick look: a seeded subset
        keep = np.sort(np.random.default_rng(0).choice(len(labels), min(limit, len(labels)), replace=False))
        labels = [labels[i] for i in keep]
    regions, train_iv = training_intervals(prefix, genome)
    relative = next(r for g, p, r in BENCHMARKS if g == genome_path)
    windows = snv_windows(genome, track, labels, window)  # built once for the three scorers
    scores = {"track_model": snv_llr(model, *windows, use_track=True)}
    scores["shipped_model"] = snv_llr(base, *windows, use_track=False)
    scores["track_model_all_n"] = snv_llr(model, *windows, use_track=False)
    scores["relative_species"], counts = relative_species_llr(genome, labels, GenomeFile(relative))
    markov = markov_llr(genome, labels, train_iv, orders, window)
    metrics = {name: scorer_metrics(labels, s) for name, s in scores.items()}
    metrics.update({f"markov_k{k}": scorer_metrics(labels, s) for k, s in markov.items()})
    paired: dict[str, Any] = {}
    for cls in ("nonsense", "missense"):
        idx, y = contrast_indices(labels, cls)
        strata = substitution_type(transversion_rule(labels)[idx] < 0)
        best = max(markov, key=lambda k: metrics[f"markov_k{k}"]["auroc_vs_synonymous"][cls]["auroc"])
        best_within = max(markov, key=lambda k: metrics[f"markov_k{k}"]["auroc_within_substitution"][cls]["auroc"])
        for rival, score in (("shipped_model", scores["shipped_model"]), ("relative_species", scores["relative_species"]),
                             (f"markov_k{best}", markov[best])):
            paired[f"track_model_minus_{rival}/{cls}_vs_synonymous"] = paired_auroc_difference(
                y, -scores["track_model"][idx], -score[idx])
        for rival, score in (("shipped_model", scores["shipped_model"]), ("relative_species", scores["relative_species"]),
                             (f"markov_k{best_within}", markov[best_within])):
            paired[f"track_model_minus_{rival}/{cls}_within_substitution"] = paired_stratified_auroc_difference(
                y, -scores["track_model"][idx], -score[idx], strata)
    return {"genome": str(genome_path.relative_to(REPO)), "benchmark": str(prefix.relative_to(REPO)),
            "relative": str(relative.relative_to(REPO)), "homologs": counts, "window": window,
            "scorers": metrics, "paired": paired}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--model", default="ecoli536-mamba-periodic")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=1024)
    ap.add_argument("--window", type=int, default=512, help="SNV scoring window (bp)")
    ap.add_argument("--orders", type=int, nargs="+", default=list(range(2, 9)))
    ap.add_argument("--heldout-windows", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit-snvs", type=int, default=None, help="score a seeded subset of each benchmark (a quick look)")
    a = ap.parse_args()
    import genomamba
    from genomamba.api import as_lm
    from genomamba.data.fasta import GenomeFile
    from genomamba.downstream.gene_consequences import genome_codes
    from genomamba.outputs import atomic_write_text

    torch.manual_seed(a.seed)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    tracks = make_tracks(a.out_dir)
    model = TrackConditioned(as_lm(genomamba.load(a.model)))
    base = TrackConditioned(as_lm(genomamba.load(a.model))).eval()  # the shipped model, never trained here
    ecoli = GenomeFile(ECOLI)
    seqs = genome_codes(ecoli)
    regions, train_iv = training_intervals(BENCHMARKS[0][1], ecoli)
    track = tracks[str(ECOLI)]["track"]
    t0 = time.time()
    fit = train(model, seqs, track, train_iv, a.steps, a.out_dir, a.lr, a.batch, a.length, a.seed)
    fit["wall_s_this_call"] = round(time.time() - t0)
    doc: dict[str, Any] = {
        "command": f"python benchmarks/track_model.py --out-dir {a.out_dir} --model {a.model} --steps {a.steps} "
                   f"--lr {a.lr} --batch {a.batch} --length {a.length} --seed {a.seed}"
                   + (f" --limit-snvs {a.limit_snvs}" if a.limit_snvs else ""),
        "base_model": a.model, "train": {k: v for k, v in fit.items() if k != "log"}, "train_log_tail": fit["log"][-5:],
        "tracks": {str(Path(g).relative_to(REPO)): {"relative": v["relative"], **v["counts"]} for g, v in tracks.items()},
        "heldout_bits": heldout_bits(model, base, seqs, track, regions, a.heldout_windows, a.length, a.seed),
    }
    doc["benchmarks"] = [evaluate_benchmark(model, base, g, p, tracks[str(g)]["track"], a.window, a.orders, a.limit_snvs)
                         for g, p, _ in BENCHMARKS]
    text = json.dumps(doc, indent=1)
    atomic_write_text(a.out_dir / "results.json", text + "\n", option="--out-dir")
    print(text)


if __name__ == "__main__":
    main()
