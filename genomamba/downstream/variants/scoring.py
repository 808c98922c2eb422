"""Zero-shot variant-effect scoring of VCF records with a genomamba language model.

Scores (higher = the model finds the ALT allele more plausible than REF; negative = damaging):

* Causal models (``config.is_causal``): log-likelihood ratio of a window around the variant,
  ``LLR = log P(alt window) - log P(ref window)``, each the sum of the per-base next-token
  log-probabilities (the first base of a window is only context, it is not scored). For indels
  the ALT window is the REF window with the allele swapped, so it is ``len(alt) - len(ref)``
  bases longer or shorter: we score both full windows as they are. That LLR mixes the
  variant's effect with a length term (a deletion removes terms, each <= 0), so compare indel
  scores with indel scores, not with SNVs. Which window (``method``):

  - ``tiled`` (the default for causal models): context from fixed tiles of the contig, so
    every variant of a tile shares one reference pass. For a score window of W bp
    (``window``), T = W, C = W // 2, A = W - W // 2 and a REF allele covering 0-based [p, q]
    of a contig of N bp, the forward strand reads ``[max(0, k T - C), min(N, q + A))`` with
    ``k = p // T``: a context of C to C + T - 1 bp (less only at the contig start), and the
    ALT allele plus the A - 1 bases after it scored; the reverse strand reads the reverse
    complement of ``[max(0, p - A + 1), min(N, (q // T + 1) T + C))``. A score depends on the
    variant's position only, never on the other variants of the VCF. SNVs are computed by
    exact state reuse (:mod:`~genomamba.downstream.variants.state_reuse`): equal to running
    the whole windows (``tiled-reference``, used by the tests) to float rounding; other
    variants run their whole windows. Details: :mod:`~genomamba.downstream.variants.tiles`.
  - ``window``: a window of W bp centred on the variant (context W // 2 bp before it on the
    forward strand), clipped to the contig; REF and ALT windows run whole, four passes per
    variant. Bidirectional and RC-equivariant models always use it. It reproduces the scores
    published before the tiled method existed.

  The two methods give different numbers for the same variant (a context starting elsewhere
  changes every hidden state), so compare scores of one method only.
* Masked models (``config.bidirectional or config.rc_equivariant``): the GPN score
  (Benegas, Batra & Song 2023, "DNA language models are powerful predictors of genome-wide
  variant effects", PNAS): the variant position is replaced by MASK in the REF window and
  ``score = log p(alt) - log p(ref)`` at that position (a log-softmax difference, equal to
  the logit difference). It is defined for substitutions only: indels and multi-base
  substitutions are reported as ``unsupported`` with that reason.
* Both strands: the same score is computed on the reverse-complement windows (complemented
  alleles, mirrored position); ``score`` is the mean of ``score_fwd`` and ``score_rev``.
* ``shift`` (substitutions only; a second zero-shot score, larger = more damaging): how far the
  ALT allele moves the model's representation, the largest L2 distance between the final
  (normed) hidden states of the REF and ALT windows at any position, taken on both strands and
  the larger kept. Distances between REF and ALT embeddings are zero-shot scores in Dalla-Torre
  et al. 2024 (Nature Methods 22:287, "Nucleotide Transformer"); the maximum over positions and
  strands is our choice, made on the uniform sample of the E. coli gene benchmark and checked on
  the Klebsiella one (docs/benchmarks/variants.md). For causal models it comes from the passes that give
  the LLR; masked models run the unmasked windows once more. ``nan`` for indels and multi-base
  substitutions, whose windows do not align position by position.
* ``influence`` (causal models, substitutions only; a third zero-shot score, larger = more
  damaging): how much the ALT allele changes the model's predictions of the bases after it, in
  nats, ``sum_t KL(p(. | ref_<t) || p(. | alt_<t))`` over the window's positions t after the
  variant (the distributions over A, C, G, T), averaged over both strands, so that the reverse
  strand covers the bases before it. Scoring a variant by its effect on the predictions at other
  positions follows the nucleotide-dependency analysis of Tomaz da Silva et al. 2024 (bioRxiv
  2024.07.27.605418, "Nucleotide dependency analysis of DNA language models reveals genomic
  functional elements"); the KL summed over the positions after the variant is our choice, made
  on the E. coli gene benchmark with ``ecoli536-hybrid-d256`` and checked on the Klebsiella one.
  How much it gains over the LLR depends on the model and the class (docs/benchmarks/variants.md): compare
  both with ``variant-benchmark``. It comes from the passes that give the LLR. ``nan`` for masked models (their unmasked outputs see the
  base they predict) and for indels and multi-base substitutions.

Records are never dropped: every (record, ALT) pair yields one row whose ``status`` is
``ok`` or says why it was not scored (see :func:`~genomamba.downstream.variants.vcf.validate_variants`).
Reading the VCF lives in :mod:`genomamba.downstream.variants.vcf`, the windows in
:mod:`genomamba.downstream.variants.windows`.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genomamba.api import ModelLike, as_lm
from genomamba.data.batching import pad_token_ids, padded_model_inputs
from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import DNATokenizer
from genomamba.data.tracks import open_track
from genomamba.devices import resolve_device
from genomamba.downstream.stats import auprc_ci, auroc_ci
from genomamba.downstream.variants import vcf as vcf_io
from genomamba.downstream.variants.state_reuse import score_groups
from genomamba.downstream.variants.tiles import build_tiled_windows, tile_groups
from genomamba.downstream.variants.windows import build_variant_windows
from genomamba.errors import ConfigError, GenomambaError
from genomamba.models import GenomambaLM
from genomamba.models.scoring import next_token_log_probs
from genomamba.outputs import atomic_write_text
from genomamba.progress import progress as progress_bar
from genomamba.tokens import N_ID, N_NUCLEOTIDES

__all__ = [
    "METHODS",
    "OUTPUT_COLUMNS",
    "is_masked_model",
    "label_metrics",
    "masked_logit_diff",
    "resolve_method",
    "score_variants",
    "tiled_reference_scores",
    "write_scores_tsv",
]

OUTPUT_COLUMNS = (
    "chrom", "pos", "id", "ref", "alt", "score", "score_fwd", "score_rev", "shift", "influence", "status", "message",
)
_TOK = DNATokenizer()
#: ``auto`` = ``tiled`` for causal models, ``window`` for masked ones; ``tiled-reference`` computes
#: the tiled scores the slow way (whole windows), for checking.
METHODS = ("auto", "tiled", "window", "tiled-reference")

@torch.inference_mode()
def _pair_scores(
    model: GenomambaLM, ref: Sequence[np.ndarray], alt: Sequence[np.ndarray], batch_size: int, causal: bool,
    ref_track: Sequence[np.ndarray] = (), alt_track: Sequence[np.ndarray] = (),
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LLR, hidden-state shift and influence of N (REF, ALT) token-id windows, each float64 ``(N,)``.
    A relative-track model reads ``ref_track`` / ``alt_track`` (N windows of codes each, shaped like
    ``ref`` / ``alt``, or one code longer: the code after the window) beside them.

    REF and ALT windows of a pair share one forward pass. ``LLR = log P(alt) - log P(ref)`` (causal
    models; ``nan`` otherwise). ``shift`` = max over positions of ``||h_alt - h_ref||_2`` of the final
    hidden states (``nan`` when the two windows differ in length). ``influence`` (causal models,
    windows of equal length) = ``sum_t KL(p_ref,t || p_alt,t)`` of the next-base distributions over
    A, C, G, T at every position t of the window: in a causal model the positions up to the variant
    see the same prefix in both windows, so only the positions after it contribute. Sums run in
    float64, over per-position differences where the windows align (the float rounding of two
    large sums does not swamp the variant's terms).
    """
    device = next(model.parameters()).device
    n = len(ref)
    llr, shift, influence = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    order = np.argsort([len(r) for r in ref], kind="stable")  # similar lengths share a batch
    pairs = max(1, batch_size // 2)
    for b in range(0, n, pairs):
        idx = order[b : b + pairs]
        ids, mask = padded_model_inputs([ref[i] for i in idx] + [alt[i] for i in idx], device)
        track = None
        if len(ref_track):
            track = pad_token_ids([ref_track[i] for i in idx] + [alt_track[i] for i in idx], pad_id=N_ID)[0].to(device)
        out = model(ids, attention_mask=mask, track_ids=track)
        dtype = torch.promote_types(out.logits.dtype, torch.float32)  # float64 models score in float64
        k = len(idx)
        same = np.array([len(ref[i]) == len(alt[i]) for i in idx])
        if causal:
            tok = next_token_log_probs(out.logits, ids).double()  # (2k, L-1)
            if mask is not None:
                tok = tok * mask[:, 1:]  # pads after a window's end score 0
            llr[idx] = np.where(same, (tok[k:] - tok[:k]).sum(-1).cpu().numpy(),
                                (tok[k:].sum(-1) - tok[:k].sum(-1)).cpu().numpy())
            # rows 0..L-2 predict a base of the window; renormalised over the four nucleotides
            logp = torch.log_softmax(out.logits[:, :-1, :N_NUCLEOTIDES].to(dtype), dim=-1)  # (2k, L-1, 4)
            kl = (logp[:k].exp() * (logp[:k] - logp[k:])).sum(-1)  # (k, L-1)
            if mask is not None:
                kl = kl * mask[:k, 1:]
            influence[idx[same]] = kl.double().sum(-1).cpu().numpy()[same]
        h = out.hidden_states.to(dtype)
        dist = (h[:k] - h[k:]).norm(dim=-1)  # (k, L)
        if mask is not None:
            dist = dist * mask[:k]
        shift[idx[same]] = dist.max(-1).values.double().cpu().numpy()[same]
        advance(2 * k)
    return llr, shift, influence


@torch.inference_mode()
def masked_logit_diff(
    model: GenomambaLM, ref_windows: Sequence[np.ndarray], positions: Sequence[int], ref_ids: Sequence[int],
    alt_ids: Sequence[int], batch_size: int = 64, mask_id: int = _TOK.mask_id,
    advance: Callable[[int], None] = lambda n: None,
) -> np.ndarray:
    """GPN score ``log p(alt) - log p(ref)`` at a masked position (Benegas et al. 2023).

    Args:
        ref_windows: N reference windows (token ids, lengths may differ).
        positions: (N,) 0-based position to mask in each window.
        ref_ids, alt_ids: (N,) token ids of the REF and ALT base.

    Returns:
        float64 ``(N,)``; the log-softmax over the vocabulary cancels in the difference.
    """
    dev = next(model.parameters()).device
    out = np.empty(len(ref_windows), dtype=np.float64)
    for b in range(0, len(ref_windows), batch_size):
        sl = slice(b, b + batch_size)
        ids, mask = padded_model_inputs(ref_windows[sl], dev)
        rows = torch.arange(ids.shape[0], device=dev)
        pos = torch.as_tensor(np.asarray(positions[sl]), dtype=torch.long, device=dev)
        ids[rows, pos] = mask_id
        logits = model(ids, attention_mask=mask).logits
        at = logits[rows, pos].float()  # (B, V) logits at the masked position
        r = torch.as_tensor(np.asarray(ref_ids[sl]), device=dev)
        a = torch.as_tensor(np.asarray(alt_ids[sl]), device=dev)
        out[sl] = (at.gather(-1, a[:, None]) - at.gather(-1, r[:, None])).squeeze(-1).double().cpu().numpy()
        advance(ids.shape[0])
    return out


def _rc(ids: np.ndarray) -> np.ndarray:
    return _TOK.reverse_complement(ids)  # type: ignore[return-value]


def is_masked_model(model: GenomambaLM) -> bool:
    """True for bidirectional / RC-equivariant models (scored with the GPN masked score)."""
    cfg = model.config
    return bool(cfg.bidirectional or cfg.rc_equivariant)


def resolve_method(model: GenomambaLM, method: str, option: str = "method") -> str:
    """The scoring method ``method`` means for ``model``: ``tiled``, ``window`` or ``tiled-reference``."""
    if method not in METHODS:
        raise ConfigError(f"{option} must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        return "window" if is_masked_model(model) else "tiled"
    if method != "window" and is_masked_model(model):
        raise ConfigError(
            f"{option} {method} needs a causal model; this model is bidirectional or RC-equivariant, scored with the "
            "masked score of centred windows: use the window method (or auto)"
        )
    return method


def tiled_reference_scores(
    model: GenomambaLM, variants: Sequence[vcf_io.Variant], genome: GenomeFile, window: int, batch_size: int = 64,
    track: GenomeFile | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score_fwd, score_rev, shift, influence) float64 ``(N,)`` of the tiled method computed the
    slow way: whole REF and ALT windows (:func:`~genomamba.downstream.variants.tiles.build_tiled_windows`),
    each run through the model from its first base, no state reuse. The reference the state-reuse
    path is tested against. ``model``: causal, in eval mode; ``variants``: validated."""
    fwd, rev = build_tiled_windows(variants, genome, window, track)
    llr_f, shift_f, influence_f = _pair_scores(model, fwd.ref, fwd.alt, batch_size, True, fwd.ref_track, fwd.alt_track)
    llr_r, shift_r, influence_r = _pair_scores(model, rev.ref, rev.alt, batch_size, True, rev.ref_track, rev.alt_track)
    return llr_f, llr_r, np.fmax(shift_f, shift_r), (influence_f + influence_r) / 2


def _score_tiled(
    model: GenomambaLM, variants: Sequence[vcf_io.Variant], genome: GenomeFile, window: int, batch_size: int,
    track: GenomeFile | None, progress: Callable[[int], None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tiled method: SNVs by state reuse, other variants by whole windows; ``progress(n)``
    with the variant strands done (two per variant)."""
    n = len(variants)
    out = tuple(np.full(n, math.nan) for _ in range(4))
    snv = np.array([i for i, v in enumerate(variants) if v.is_snv], dtype=np.int64)
    other = np.array([i for i, v in enumerate(variants) if not v.is_snv], dtype=np.int64)
    if len(snv):
        groups = tile_groups([variants[i].chrom for i in snv], [variants[i].start for i in snv],
                             [variants[i].alt for i in snv], genome, window, track)
        llr, shift, influence = score_groups(model, groups, 2 * len(snv), batch_size, progress=progress)
        m = len(snv)
        out[0][snv], out[1][snv] = llr[:m], llr[m:]
        out[2][snv], out[3][snv] = np.fmax(shift[:m], shift[m:]), (influence[:m] + influence[m:]) / 2
    if len(other):
        for column, values in zip(out, tiled_reference_scores(model, [variants[i] for i in other], genome, window,
                                                                batch_size, track), strict=True):
            column[other] = values
        progress(2 * len(other))
    return out


def _score_ok(
    model: GenomambaLM, variants: Sequence[vcf_io.Variant], genome: GenomeFile, window: int, batch_size: int,
    track: GenomeFile | None = None, method: str = "window", advance: Callable[[int], None] = lambda n: None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score_fwd, score_rev, shift, influence) float64 ``(N,)`` for variants that passed validation;
    ``advance(n)`` as work finishes, in the units of :func:`progress_total`."""
    if method == "tiled":
        return _score_tiled(model, variants, genome, window, batch_size, track, advance)
    if method == "tiled-reference":
        return tiled_reference_scores(model, variants, genome, window, batch_size, track)
    w = build_variant_windows(variants, genome, window, track)
    masked = is_masked_model(model)
    rc_ref, rc_alt = [_rc(r) for r in w.ref], [_rc(a) for a in w.alt]
    rc_tracks = [_rc(t) for t in w.ref_track], [_rc(t) for t in w.alt_track]  # track codes are token ids
    llr_fwd, shift_fwd, influence_fwd = _pair_scores(
        model, w.ref, w.alt, batch_size, not masked, w.ref_track, w.alt_track, advance=advance)
    llr_rev, shift_rev, influence_rev = _pair_scores(model, rc_ref, rc_alt, batch_size, not masked, *rc_tracks, advance=advance)
    shift = np.fmax(shift_fwd, shift_rev)  # nan only where both are (indels)
    influence = (influence_fwd + influence_rev) / 2  # each strand sees the bases on one side
    if not masked:
        return llr_fwd, llr_rev, shift, influence
    ref_b = [int(_TOK.encode(v.ref)[0]) for v in variants]
    alt_b = [int(_TOK.encode(v.alt)[0]) for v in variants]
    fwd = masked_logit_diff(model, w.ref, w.offset, ref_b, alt_b, batch_size, advance=advance)
    comp = _TOK.complement_ids
    rev = masked_logit_diff(
        model, rc_ref, [len(r) - 1 - o for r, o in zip(w.ref, w.offset, strict=True)],
        [int(comp[b]) for b in ref_b], [int(comp[b]) for b in alt_b], batch_size, advance=advance,
    )
    return fwd, rev, shift, influence


def progress_total(model: GenomambaLM, n_variants: int, method: str) -> tuple[int, str]:
    """The units of work of scoring ``n_variants`` with ``method`` and their name: model inputs
    (:func:`windows_scored`) for the window method, variant strands (two per variant) otherwise."""
    if method == "window":
        return windows_scored(model, n_variants), "windows"
    return 2 * n_variants, "variant strands"


def windows_scored(model: GenomambaLM, n_variants: int) -> int:
    """Model inputs that scoring ``n_variants`` SNVs runs: REF and ALT on both strands, and for a
    masked model the masked window on both strands too (the progress bar's total)."""
    return n_variants * (6 if is_masked_model(model) else 4)


# ALT runs per forward pass of the tiled method on CPU. Measured on 2 cores (saturation mutagenesis
# of 400 bp with ecoli536-hybrid-small, batch sizes interleaved): 8 gave 58-62 SNVs/s, 4 52-54,
# 16 44-51, 64 38, 256 29; a small batch's activations stay in the CPU caches. On CUDA and for
# whole windows, larger batches keep the device busy.
CPU_TILED_BATCH_SIZE = 8
DEFAULT_BATCH_SIZE = 64


def default_batch_size(model: GenomambaLM, method: str) -> int:
    """The batch size used when none is given: :data:`CPU_TILED_BATCH_SIZE` for the tiled method
    on a CPU model, :data:`DEFAULT_BATCH_SIZE` otherwise."""
    on_cpu = next(model.parameters()).device.type == "cpu"
    return CPU_TILED_BATCH_SIZE if on_cpu and method == "tiled" else DEFAULT_BATCH_SIZE


def score_variants(
    model: ModelLike,
    fasta: str | os.PathLike[str] | GenomeFile,
    vcf: str | os.PathLike[str] | Sequence[vcf_io.Variant],
    window: int = 512,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    track: str | os.PathLike[str] | GenomeFile | None = None,
    method: str = "auto",
    progress: bool | Callable[[int], None] = True,
) -> list[dict[str, Any]]:
    """Score every (record, ALT) of a VCF; see the module docstring for the definitions.

    Args:
        model: a ``GenomambaModel`` or ``GenomambaLM`` (causal -> LLR; bidirectional / RC -> masked logit diff).
        fasta: reference FASTA (path or opened :class:`GenomeFile`).
        vcf: VCF path, or already-read :class:`~genomamba.downstream.variants.vcf.Variant` objects.
        window: W, the window in bp: centred on the variant (``window`` method), or the tiled
            context's tile length, of which the second half is scored (``tiled``).
        batch_size: ALT runs (tiled) or windows (window) per forward pass; None:
            :func:`default_batch_size` (8 for the tiled method on CPU, else 64).
        device: move the model there first (default: where it already is).
        track: the reference's relative track (``genomamba make-relative-track``), required by and
            only by a relative-track model (``config.relative_track``).
        method: one of :data:`METHODS` (module docstring); ``auto``: ``tiled`` for causal
            models, ``window`` for bidirectional and RC-equivariant ones.
        progress: show a progress bar with an ETA (only when stderr is a terminal); or a callback,
            called with the units of work done (:func:`progress_total`) as they finish.

    Returns:
        One dict per (record, ALT), in file order, with keys :data:`OUTPUT_COLUMNS` plus
        ``record``; scores are ``nan`` unless ``status == "ok"``.
    """
    model = as_lm(model)
    if window < 2:
        raise GenomambaError(f"window must be >= 2 bp, got {window}")
    method = resolve_method(model, method)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer)
                                   or batch_size < 1):
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    genome = fasta if isinstance(fasta, GenomeFile) else GenomeFile(fasta)
    model.config.check_track_input(track, "the model", option="track")
    if track is not None:
        track = open_track(track, genome)
    variants = vcf_io.read_vcf(vcf) if isinstance(vcf, (str, os.PathLike)) else list(vcf)
    if device is not None:
        model = model.to(resolve_device(device))
    if batch_size is None:
        batch_size = default_batch_size(model, method)
    was_training = model.training
    model.eval()
    try:
        vcf_io.validate_variants(variants, genome, masked=is_masked_model(model))
        ok = [v for v in variants if v.status == "ok"]
        fwd = rev = shift = influence = np.empty(0)
        if ok:
            total, unit = progress_total(model, len(ok), method)
            bar = progress_bar(total, "scoring variants", unit, progress is True) if not callable(progress) else nullcontext(progress)
            with bar as advance:
                fwd, rev, shift, influence = _score_ok(model, ok, genome, window, batch_size, track, method, advance)
    finally:
        model.train(was_training)
    scores = {id(v): tuple(map(float, vals)) for v, *vals in zip(ok, fwd, rev, shift, influence, strict=True)}
    rows = []
    for v in variants:
        f, r, d, infl = scores.get(id(v), (math.nan,) * 4)
        rows.append(
            {
                "chrom": v.chrom, "pos": v.pos, "id": v.id, "ref": v.ref, "alt": v.alt,
                "score": (f + r) / 2, "score_fwd": f, "score_rev": r, "shift": d, "influence": infl,
                "status": v.status, "message": v.message, "record": v.record,
            }
        )
    return rows


def write_scores_tsv(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write rows from :func:`score_variants` as a TSV with :data:`OUTPUT_COLUMNS` (``nan`` -> empty)."""
    buf = io.StringIO()
    wr = csv.writer(buf, delimiter="\t", lineterminator="\n")
    wr.writerow(OUTPUT_COLUMNS)
    for r in rows:
        wr.writerow(
            ["" if isinstance(r[c], float) and math.isnan(r[c]) else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c])
             for c in OUTPUT_COLUMNS]
        )
    # Temporary file + rename: a full disk or a kill never leaves a truncated table.
    return atomic_write_text(path, buf.getvalue(), option="--out")


def label_metrics(
    rows: Sequence[dict[str, Any]], labels: dict[tuple[str, int, str, str], int], positive_scores: str = "lower",
    column: str = "score",
) -> dict[str, Any] | None:
    """AUROC and AUPRC (95% bootstrap CIs) of scored ``rows`` against 0/1 ``labels`` keyed by
    (chrom, pos, ref, alt); ``None`` when fewer than one scored variant of each class is labelled.
    ``positive_scores`` says how label-1 variants score in ``column`` ("lower" or "higher"); rows
    whose ``column`` is nan (e.g. the shift of an indel) are left out."""
    y, score = [], []
    for r in rows:
        lab = labels.get((r["chrom"], int(r["pos"]), r["ref"], r["alt"]))
        if lab is not None and r["status"] == "ok" and math.isfinite(r[column]):
            y.append(lab)
            score.append(-r[column] if positive_scores == "lower" else r[column])
    if len(set(y)) < 2:
        return None
    roc, pr = auroc_ci(y, score), auprc_ci(y, score)
    return {
        "n_labelled": len(y), "n_pos": roc["n_pos"], "n_neg": roc["n_neg"], "positive_scores": positive_scores,
        "auroc": roc["auroc"], "auroc_ci": roc["ci"], "auprc": pr["auprc"], "auprc_ci": pr["ci"], "auprc_chance": pr["chance"],
    }
