"""Held-out bits per base of a model next to order-k Markov baselines on the same positions.

Every figure is an average over exactly the same held-out positions: targets in the held-out
windows that have ``MAX_ORDER`` (8) nucleotides before them inside the window and are a
nucleotide themselves (``markov.scoring_mask``). So the model and each Markov order are scored
on identical targets, and the model gets no more in-window context than it needs to beat them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genomamba.errors import ConfigError, WindowError
from genomamba.progress import progress as progress_bar
from genomamba.tokens import MASK_ID
from genomamba.training.markov import MAX_ORDER, markov_baselines, scoring_mask


def heldout_windows(datamodule: Any, max_windows: int | None = None) -> list[np.ndarray]:
    """The validation windows of a set-up datamodule as (L,) int64 id arrays."""
    return heldout_windows_and_tracks(datamodule, max_windows)[0]


def heldout_windows_and_tracks(
    datamodule: Any, max_windows: int | None = None
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """The validation windows of a set-up datamodule, (L,) int64 id arrays, and their relative
    tracks, (L,) int64 codes each (None when the datamodule has no ``track_fasta``)."""
    if max_windows is not None and max_windows < 1:
        raise ConfigError(f"max_windows must be >= 1 (or None for all), got {max_windows}")
    out: list[np.ndarray] = []
    tracks: list[np.ndarray] | None = None if getattr(datamodule, "tracks", None) is None else []
    for batch in datamodule.val_dataloader():
        for i, row in enumerate(batch["input_ids"].cpu().numpy()):
            out.append(row.astype(np.int64))
            if tracks is not None:
                tracks.append(batch["track_ids"][i].cpu().numpy().astype(np.int64))
            if max_windows is not None and len(out) >= max_windows:
                return out, tracks
    return out, tracks


class _TrainingPieces:
    """Re-iterable over the training split in pieces of at most ``piece`` bases (+ ``overlap``).

    Each pass fetches and tokenizes one piece at a time, so a human genome (3.1 Gb, 25 GB as
    int64 ids) is never held whole. Consecutive pieces of an interval overlap by ``overlap``
    bases, so order-``overlap`` contexts are never cut; lower orders count at most ``overlap``
    transitions per piece boundary twice (a few per ``piece`` bases). Intervals shorter than
    ``piece`` (any bacterial genome) come out whole, exactly as before.
    """

    def __init__(self, datamodule: Any, piece: int, overlap: int) -> None:
        self.datamodule, self.piece, self.overlap = datamodule, int(piece), int(overlap)

    def __iter__(self) -> Iterator[np.ndarray]:
        dm = self.datamodule
        for genome, intervals in zip(dm.files, dm.splits["train"], strict=True):
            for iv in intervals:
                for start in range(iv.start, iv.end, self.piece):
                    lo, hi = max(iv.start, start - self.overlap), min(iv.end, start + self.piece)
                    seq = genome.fetch(iv.contig, lo, hi)
                    yield np.asarray(dm.tokenizer.encode(seq, source=f"{genome.path}:{iv.contig}"), dtype=np.int64)


def training_sequences(datamodule: Any, piece: int = 1 << 23) -> Iterable[np.ndarray]:
    """The training split of a set-up ``GenomeDataModule`` as id arrays, lazily and re-iterably
    (one interval, or one ``piece``-base part of a longer one, at a time).

    Uses ``datamodule.splits["train"]`` (per-file interval lists) so the Markov baselines are
    fitted on exactly the sequence the model trains on, never on held-out bases.
    """
    return _TrainingPieces(datamodule, piece, overlap=MAX_ORDER)


@torch.no_grad()
def model_bits(
    model: nn.Module,
    windows: Sequence[np.ndarray],
    objective: str = "causal",
    batch_size: int = 16,
    mask_prob: float = 0.15,
    mask_token_id: int = MASK_ID,
    seed: int = 0,
    tracks: Sequence[np.ndarray] | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[float, int]:
    """Total bits and number of scored positions of ``model`` over ``windows``.

    ``tracks`` (one (L,) array per window): the relative tracks a relative-track model reads.

    causal: ``-log2 P(x_t | x_<t)`` at every scoring position.
    mlm: a seeded BERT-style masking of ``mask_prob`` of the positions (all replaced by MASK);
        ``-log2 P(x_t | unmasked context)`` at masked scoring positions. This is a
        pseudo-likelihood with two-sided context and is not comparable to causal/Markov bits.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        chunk = windows[i : i + batch_size]
        ids = torch.as_tensor(np.stack(chunk), dtype=torch.long)  # (B, L)
        score = torch.as_tensor(np.stack([scoring_mask(w, MAX_ORDER) for w in chunk]))  # (B, L)
        if objective == "causal":
            track = {} if tracks is None else {"track_ids": torch.as_tensor(np.stack(tracks[i : i + batch_size])).long().to(device)}
            logits = model(ids.to(device), **track).logits[:, :-1].float().cpu()  # (B, L-1, V)
            targets, score = ids[:, 1:], score[:, 1:]
        else:
            chosen = (torch.rand(ids.shape, generator=gen) < mask_prob) & score
            corrupted = torch.where(chosen, torch.full_like(ids, mask_token_id), ids)
            logits = model(corrupted.to(device)).logits.float().cpu()
            targets, score = ids, chosen
        logp = F.log_softmax(logits, dim=-1)
        safe = torch.where(score, targets, torch.zeros_like(targets))
        nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (B, L')
        total += float(nll[score].sum()) / math.log(2)
        advance(len(chunk))
        count += int(score.sum())
    model.train(was_training)
    return total, count


def window_bits(model: nn.Module, windows: Sequence[np.ndarray], objective: str = "causal",
                tracks: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bits and scored positions of each window, shapes (W,) and (W,): what :func:`model_bits` sums,
    kept apart so that bits per base can get a bootstrap CI over windows (and a paired one between
    two models on the same windows). For ``mlm`` window i is masked with seed i."""
    pairs = [model_bits(model, [w], objective, seed=i, tracks=None if tracks is None else [tracks[i]])
             for i, w in enumerate(windows)]
    return np.array([b for b, _ in pairs], dtype=np.float64), np.array([n for _, n in pairs], dtype=np.int64)


def evaluate_heldout(
    model: nn.Module,
    train_seqs: Iterable[np.ndarray],
    windows: Sequence[np.ndarray],
    objective: str = "causal",
    orders: Iterable[int] = range(1, MAX_ORDER + 1),
    alpha: float = 0.5,
    mask_token_id: int = MASK_ID,
    tracks: Sequence[np.ndarray] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Model bits per base and Markov baselines (fitted on ``train_seqs``) on ``windows``
    (a relative-track model reads ``tracks``, one per window; the Markov chains never do).
    ``progress``: a progress bar for each of the two (only when stderr is a terminal)."""
    if not windows:
        raise WindowError("no held-out windows to evaluate on; check the split (val_fraction / holdout_contigs / BED)")
    with progress_bar(len(windows), "scoring held-out windows", "windows", progress) as advance:
        bits, n = model_bits(model, windows, objective, mask_token_id=mask_token_id, tracks=tracks, advance=advance)
    if n == 0:
        raise WindowError(
            f"the {len(windows)} held-out window(s) have no scorable position (a nucleotide with {MAX_ORDER} "
            "nucleotides before it): they are (almost) all N. Evaluate on a FASTA region with sequence."
        )
    masks = [scoring_mask(w, MAX_ORDER) for w in windows]
    orders = list(orders)
    with progress_bar(len(orders), "fitting Markov baselines", "orders", progress) as advance:
        markov = markov_baselines(train_seqs, windows, orders=orders, alpha=alpha, eval_masks=masks, advance=advance)
    best_k = min(markov, key=lambda k: markov[k]) if markov else None
    model_bpb = bits / n if n else math.nan
    return {
        "model": {"bits_per_base": model_bpb, "n_positions": n, "objective": objective},
        "markov": {str(k): v for k, v in markov.items()},
        "markov_best": None if best_k is None else {"order": best_k, "bits_per_base": markov[best_k]},
        "markov_smoothing_alpha": alpha,
        "heldout": {
            "n_windows": len(windows),
            "window_length": int(len(windows[0])) if windows else 0,
            "n_positions_markov": int(sum(int(m.sum()) for m in masks)),
            "scored_positions": f"targets with {MAX_ORDER} in-window nucleotide predecessors",
        },
        "relative_track": tracks is not None,
        "comparable_to_markov": objective == "causal",
        "beats_markov_order2": bool(objective == "causal" and "2" in {str(k) for k in markov} and model_bpb < markov[2]),
        "beats_best_markov": bool(objective == "causal" and best_k is not None and model_bpb < markov[best_k]),
    }


def format_heldout_report(metrics: dict[str, Any]) -> str:
    """Held-out bits per base of the model next to each Markov order (best marked), as text."""
    held = metrics["heldout"]
    lines = [
        f"held-out bits per base ({held['n_windows']} windows of {held['window_length']} bp, "
        f"{metrics['model']['n_positions']:,} scored positions)"
    ]
    lines.append(f"  genomamba ({metrics['model']['objective']}): {metrics['model']['bits_per_base']:.4f}")
    best = metrics.get("markov_best") or {}
    for k, v in metrics["markov"].items():
        mark = "  <- best Markov" if best and int(k) == best["order"] else ""
        lines.append(f"  Markov order {k}: {v:.4f}{mark}")
    if metrics.get("relative_track"):
        lines.append("(the model also reads a related genome's aligned bases, the relative track; the Markov chains do not)")
    if metrics.get("comparable_to_markov", True):
        lines.append(
            f"beats order-2 Markov: {metrics['beats_markov_order2']}; beats best Markov: {metrics['beats_best_markov']}"
        )
    else:
        lines.append("(masked-LM pseudo-likelihood: two-sided context, not comparable to the Markov figures)")
    return "\n".join(lines)
