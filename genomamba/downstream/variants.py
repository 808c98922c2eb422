"""Zero-shot variant-effect scoring of VCF records with a genomamba language model.

Scores (higher = the model finds the ALT allele more plausible than REF; negative = damaging):

* Causal models (``config.is_causal``): log-likelihood ratio of a window centred on the
  variant, ``LLR = log P(alt window) - log P(ref window)``, each the sum of the per-base
  next-token log-probabilities (the first base of a window is only context, it is not
  scored). For indels the ALT window is the REF window with the allele swapped, so it is
  ``len(alt) - len(ref)`` bases longer or shorter: we score both full windows as they are.
  That LLR mixes the variant's effect with a length term (a deletion removes terms, each
  <= 0), so compare indel scores with indel scores, not with SNVs.
* Masked models (``config.bidirectional or config.rc_equivariant``): the GPN score
  (Benegas, Batra & Song 2023, "DNA language models are powerful predictors of genome-wide
  variant effects", PNAS): the variant position is replaced by MASK in the REF window and
  ``score = log p(alt) - log p(ref)`` at that position (a log-softmax difference, equal to
  the logit difference). It is defined for substitutions only: indels and multi-base
  substitutions are reported as ``unsupported`` with that reason.
* Both strands: the same score is computed on the reverse-complement windows (complemented
  alleles, mirrored position); ``score`` is the mean of ``score_fwd`` and ``score_rev``.

Records are never dropped: every (record, ALT) pair yields one row whose ``status`` is
``ok`` or says why it was not scored (``ref_mismatch``, ``unknown_contig``,
``out_of_bounds``, ``unsupported``), with a ``message``. A malformed VCF line aborts
reading with a :class:`~genomamba.errors.VCFError` naming the file, record and line: htslib
cannot resume after a parse error, and a partially read file would be silently incomplete.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genomamba.data.fasta import GenomeFile, is_bgzf_file
from genomamba.data.tokenizer import DNATokenizer
from genomamba.devices import resolve_device
from genomamba.downstream.stats import format_ci
from genomamba.errors import ConfigError, ContigError, GenomambaError, VCFError
from genomamba.outputs import atomic_write_text, check_output_path

__all__ = [
    "MAX_ALLELE_LEN",
    "OUTPUT_COLUMNS",
    "Variant",
    "finetune_variant_effect",
    "read_vcf",
    "score_variants",
    "score_variants_main",
    "write_scores_tsv",
]

MAX_ALLELE_LEN = 50  # longer REF/ALT alleles are "beyond short indels": reported unsupported
OUTPUT_COLUMNS = ("chrom", "pos", "id", "ref", "alt", "score", "score_fwd", "score_rev", "status", "message")
_TOK = DNATokenizer()
_ACGT = frozenset("ACGT")


@dataclass
class Variant:
    """One (record, ALT) pair of a VCF.

    Attributes:
        chrom, pos: contig and 1-based position of the first REF base (VCF convention).
        ref, alt: alleles, upper-cased; ``alt`` may be symbolic (``<DEL>``), ``*`` or ``.``.
        id: the record's ID column (``.`` when absent).
        record: 1-based record number in the file; ``line``: its 1-based line number.
        status, message: filled by validation (``ok`` when the pair can be scored).
    """

    chrom: str
    pos: int
    ref: str
    alt: str
    id: str = "."
    record: int = 0
    line: int = 0
    status: str = "ok"
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def start(self) -> int:
        """0-based start of the REF allele."""
        return self.pos - 1

    @property
    def is_snv(self) -> bool:
        return len(self.ref) == 1 and len(self.alt) == 1


# -- VCF reading ---------------------------------------------------------------------------
def _read_text_lines(path: Path) -> list[str]:
    """All lines of a plain, gzip or BGZF text file (only used to explain a parse error)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rt", errors="replace") as fh:  # type: ignore[operator]
        return fh.read().splitlines()


def _count_header_lines(path: Path) -> int:
    """Number of leading '#' lines (plain, gzip or BGZF), read only as far as the first record."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    n = 0
    try:
        with opener(path, "rt", errors="replace") as fh:  # type: ignore[operator]
            for text in fh:
                if not text.startswith("#"):
                    break
                n += 1
    except (OSError, EOFError):
        pass  # htslib already parsed the header; line numbers are then best effort
    return n


def _explain_bad_line(path: Path, record_no: int) -> tuple[int, str]:
    """(line number, diagnosis) of the ``record_no``-th (1-based) data line of ``path``."""
    try:
        lines = _read_text_lines(path)
    except OSError:
        return 0, "the file could not be re-read to locate the line"
    seen = 0
    for i, text in enumerate(lines, start=1):
        if text.startswith("#") or not text.strip():
            continue
        seen += 1
        if seen != record_no:
            continue
        cols = text.split("\t")
        shown = text if len(text) <= 80 else text[:77] + "..."
        if len(cols) < 8:
            why = f"{len(cols)} tab-separated columns, a VCF record needs at least 8 (CHROM POS ID REF ALT QUAL FILTER INFO)"
        elif not cols[1].isdigit():
            why = f"POS {cols[1]!r} is not a positive integer"
        elif not cols[3] or not cols[4]:
            why = "empty REF or ALT column"
        else:
            why = "htslib could not parse it (see its [E::vcf_parse] message above)"
        return i, f"{why}: {shown!r}"
    return 0, "the line could not be located (truncated or corrupt compressed file?)"


def read_vcf(path: str | os.PathLike[str], info_keys: Sequence[str] = ()) -> list[Variant]:
    """Read a plain or bgzipped VCF with ``pysam.VariantFile``: one :class:`Variant` per ALT.

    ``info_keys``: INFO fields to keep, per variant, in ``Variant.extra["info"]`` (absent keys
    are left out).

    A record without ALT (``.``) yields one row with ``alt="."``, later reported unsupported.

    Raises:
        VCFError: the file is missing, is not a VCF, or has a malformed line (the message
            names the file, the record number and the line number, and the fix).
    """
    import pysam

    p = Path(path)
    if not p.is_file():
        raise VCFError(f"{p}: VCF file not found; pass an existing .vcf or .vcf.gz")
    with open(p, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b" and not is_bgzf_file(p):
        raise VCFError(
            f"{p} is plain gzip, but a compressed VCF must be block-gzipped (BGZF): "
            f"`gunzip -c {p} | bgzip > {str(p).removesuffix('.gz')}.bgz.gz`, or decompress it with gunzip"
        )
    try:
        vf = pysam.VariantFile(str(p))
    except (OSError, ValueError, NotImplementedError) as e:
        raise VCFError(
            f"{p}: not a readable VCF ({e}); it needs a '##fileformat=VCFv4.x' line and a tab-separated "
            "'#CHROM POS ID REF ALT QUAL FILTER INFO' header (compress with bgzip, not plain gzip)"
        ) from None
    # pysam's header text adds lines (e.g. FILTER=PASS), so count the file's own header lines
    n_header = _count_header_lines(p)
    out: list[Variant] = []
    record_no = 0
    try:
        it = iter(vf)
        while True:
            try:
                rec = next(it)
            except StopIteration:
                break
            except (OSError, ValueError, NotImplementedError) as e:
                line, why = _explain_bad_line(p, record_no + 1)
                where = f"line {line}" if line else f"after line {n_header + record_no}"
                raise VCFError(
                    f"{p}: malformed record {record_no + 1} ({where}): {why}. htslib: {e}. "
                    "Fix or remove that line (e.g. validate with `bcftools view`); reading stopped there "
                    "because htslib cannot resume after a parse error."
                ) from None
            record_no += 1
            alts = rec.alts or (".",)
            ref = (rec.ref or "").upper()
            for alt in alts:
                out.append(
                    Variant(
                        chrom=rec.chrom,
                        pos=int(rec.pos),
                        ref=ref,
                        alt=str(alt) if str(alt).startswith("<") or "[" in str(alt) or "]" in str(alt) else str(alt).upper(),
                        id=rec.id or ".",
                        record=record_no,
                        line=n_header + record_no,
                        extra={"info": {k: rec.info[k] for k in info_keys if k in rec.info}} if info_keys else {},
                    )
                )
    finally:
        vf.close()
    return out


# -- validation ----------------------------------------------------------------------------
def _unsupported_reason(v: Variant, masked: bool) -> str | None:
    alt = v.alt
    if alt in (".", ""):
        return "no ALT allele ('.'): nothing to score"
    if alt == "*":
        return "'*' (allele missing due to an upstream deletion) is not a sequence"
    if alt.startswith("<") or "[" in alt or "]" in alt:
        return f"symbolic/structural ALT {alt!r} has no explicit sequence; only explicit short alleles are scored"
    if not set(v.ref) <= _ACGT or not set(alt) <= _ACGT:
        return f"REF/ALT contain bases other than A/C/G/T ({v.ref}>{alt}); ambiguous alleles are not scored"
    if len(v.ref) > MAX_ALLELE_LEN or len(alt) > MAX_ALLELE_LEN:
        return f"allele longer than {MAX_ALLELE_LEN} bp (REF {len(v.ref)}, ALT {len(alt)}): beyond short indels"
    if v.ref == alt:
        return "ALT equals REF"
    if masked and not v.is_snv:
        return (
            "masked/bidirectional models use the GPN masked-logit score, defined for single-base "
            "substitutions only; score indels/MNVs with a causal model"
        )
    return None


def validate_variants(variants: Iterable[Variant], genome: GenomeFile, *, masked: bool) -> list[Variant]:
    """Set ``status``/``message`` of each variant against the reference; returns the same objects."""
    out = list(variants)
    for v in out:
        v.status, v.message = "ok", ""
        try:
            record = genome.contigs.get(v.chrom)  # the record, also when CHROM is its accession
        except ContigError as e:
            raise VCFError(f"record {v.record} (line {v.line}): {e}") from None
        n = None if record is None else genome.lengths[record]
        if n is None:
            v.status = "unknown_contig"
            v.message = f"CHROM {v.chrom!r} is not in {genome.path.name} (contigs: {list(genome.lengths)[:5]}); rename it to match the FASTA"
            continue
        reason = _unsupported_reason(v, masked)
        if reason is None and not masked and v.start == 0:
            reason = "a causal model has no upstream context for a variant at the first base of the contig"
        if v.ref == "" or v.start < 0 or v.start + len(v.ref) > n:
            v.status = "out_of_bounds"
            v.message = f"{v.chrom}:{v.pos} REF {v.ref!r} lies outside the contig (length {n})"
            continue
        if set(v.ref) <= _ACGT | {"N"} and len(v.ref) <= 10_000:
            fa_ref = genome.fetch(v.chrom, v.start, v.start + len(v.ref)).upper()
            if fa_ref != v.ref:
                v.status = "ref_mismatch"
                v.message = (
                    f"record {v.record} (line {v.line}): REF {v.ref!r} but {genome.path.name} has {fa_ref!r} at "
                    f"{v.chrom}:{v.pos}; check the reference build / left-normalise the VCF (bcftools norm -f)"
                )
                continue
        if reason is not None:
            v.status, v.message = "unsupported", reason
    return out


# -- windows -------------------------------------------------------------------------------
def _window_bounds(start: int, ref_len: int, contig_len: int, window: int) -> tuple[int, int]:
    """[s, e) of a ``window``-bp reference window centred on the REF allele, clipped to the contig.

    >>> _window_bounds(1000, 1, 10_000, 8), _window_bounds(2, 1, 10_000, 8), _window_bounds(9998, 1, 10_000, 8)
    ((996, 1004), (0, 8), (9992, 10000))
    """
    if contig_len <= window:
        return 0, contig_len
    s = start + ref_len // 2 - window // 2
    s = min(max(0, s), contig_len - window)
    return s, s + window


@dataclass
class _Windows:
    ref: list[np.ndarray]  # (L_i,) token ids
    alt: list[np.ndarray]
    offset: list[int]  # 0-based position of the variant's first REF base inside the ref window


def _build_windows(variants: Sequence[Variant], genome: GenomeFile, window: int) -> _Windows:
    w = _Windows([], [], [])
    for v in variants:
        s, e = _window_bounds(v.start, len(v.ref), genome.length(v.chrom), window)
        seq = genome.fetch(v.chrom, s, e).upper()
        off = v.start - s
        alt_seq = seq[:off] + v.alt + seq[off + len(v.ref) :]
        w.ref.append(_TOK.encode(seq, source=f"{genome.path.name}:{v.chrom}"))
        w.alt.append(_TOK.encode(alt_seq))
        w.offset.append(off)
    return w


def _pad(seqs: Sequence[np.ndarray], pad_id: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Right-pad to (B, L_max); the mask is None when all lengths agree (no padding work)."""
    lens = [len(s) for s in seqs]
    L = max(lens)
    ids = np.full((len(seqs), L), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
    if min(lens) == L:
        return torch.from_numpy(ids), None
    mask = torch.arange(L)[None, :] < torch.tensor(lens)[:, None]
    return torch.from_numpy(ids), mask


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.inference_mode()
def sequence_log_likelihood(model: nn.Module, seqs: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Sum of next-token log-probabilities of each sequence under a causal model.

    Args:
        seqs: N arrays of token ids, lengths may differ.

    Returns:
        float64 ``(N,)``: ``sum_{t>=1} log p(x_t | x_<t)`` (the first base is context only).
    """
    dev = _device_of(model)
    order = np.argsort([len(s) for s in seqs], kind="stable")  # similar lengths share a batch
    out = np.empty(len(seqs), dtype=np.float64)
    for b in range(0, len(seqs), batch_size):
        idx = order[b : b + batch_size]
        ids, mask = _pad([seqs[i] for i in idx], pad_id=_TOK.pad_id)
        ids = ids.to(dev)
        mask = mask.to(dev) if mask is not None else None
        logits = model(ids, attention_mask=mask).logits.float()  # (B, L, V)
        logp = F.log_softmax(logits[:, :-1], dim=-1)  # (B, L-1, V) predicts positions 1..L-1
        tok = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, L-1)
        if mask is not None:
            tok = tok * mask[:, 1:]
        out[idx] = tok.sum(-1).double().cpu().numpy()
    return out


@torch.inference_mode()
def masked_logit_diff(
    model: nn.Module, ref_windows: Sequence[np.ndarray], positions: Sequence[int], ref_ids: Sequence[int],
    alt_ids: Sequence[int], batch_size: int = 64, mask_id: int = _TOK.mask_id,
) -> np.ndarray:
    """GPN score ``log p(alt) - log p(ref)`` at a masked position (Benegas et al. 2023).

    Args:
        ref_windows: N reference windows (token ids, lengths may differ).
        positions: (N,) 0-based position to mask in each window.
        ref_ids, alt_ids: (N,) token ids of the REF and ALT base.

    Returns:
        float64 ``(N,)``; the log-softmax over the vocabulary cancels in the difference.
    """
    dev = _device_of(model)
    out = np.empty(len(ref_windows), dtype=np.float64)
    for b in range(0, len(ref_windows), batch_size):
        sl = slice(b, b + batch_size)
        ids, mask = _pad(ref_windows[sl], pad_id=_TOK.pad_id)
        rows = torch.arange(ids.shape[0])
        pos = torch.as_tensor(np.asarray(positions[sl]), dtype=torch.long)
        ids[rows, pos] = mask_id
        logits = model(ids.to(dev), attention_mask=None if mask is None else mask.to(dev)).logits
        at = logits[rows.to(dev), pos.to(dev)].float()  # (B, V) logits at the masked position
        r = torch.as_tensor(np.asarray(ref_ids[sl]), device=dev)
        a = torch.as_tensor(np.asarray(alt_ids[sl]), device=dev)
        out[sl] = (at.gather(-1, a[:, None]) - at.gather(-1, r[:, None])).squeeze(-1).double().cpu().numpy()
    return out


def _rc(ids: np.ndarray) -> np.ndarray:
    return _TOK.reverse_complement(ids)  # type: ignore[return-value]


def is_masked_model(model: nn.Module) -> bool:
    """True for bidirectional / RC-equivariant models (scored with the GPN masked score)."""
    cfg = model.config  # type: ignore[attr-defined]
    return bool(cfg.bidirectional or cfg.rc_equivariant)


def _score_ok(model: nn.Module, variants: Sequence[Variant], genome: GenomeFile, window: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(score_fwd, score_rev) float64 ``(N,)`` for variants that passed validation."""
    w = _build_windows(variants, genome, window)
    if is_masked_model(model):
        ref_b = [int(_TOK.encode(v.ref)[0]) for v in variants]
        alt_b = [int(_TOK.encode(v.alt)[0]) for v in variants]
        fwd = masked_logit_diff(model, w.ref, w.offset, ref_b, alt_b, batch_size)
        comp = _TOK.complement_ids
        rev = masked_logit_diff(
            model, [_rc(r) for r in w.ref], [len(r) - 1 - o for r, o in zip(w.ref, w.offset, strict=True)],
            [int(comp[b]) for b in ref_b], [int(comp[b]) for b in alt_b], batch_size,
        )
        return fwd, rev
    n = len(variants)
    ll = sequence_log_likelihood(model, w.ref + w.alt + [_rc(r) for r in w.ref] + [_rc(a) for a in w.alt], batch_size)
    return ll[n : 2 * n] - ll[:n], ll[3 * n :] - ll[2 * n : 3 * n]


def score_variants(
    model: nn.Module,
    fasta: str | os.PathLike[str] | GenomeFile,
    vcf: str | os.PathLike[str] | Sequence[Variant],
    window: int = 512,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """Score every (record, ALT) of a VCF; see the module docstring for the definitions.

    Args:
        model: a ``GenomambaLM`` (causal -> LLR; bidirectional / RC -> masked logit diff).
        fasta: reference FASTA (path or opened :class:`GenomeFile`).
        vcf: VCF path, or already-read :class:`Variant` objects.
        window: reference window length in bp, centred on the variant.
        device: move the model there first (default: where it already is).

    Returns:
        One dict per (record, ALT), in file order, with keys :data:`OUTPUT_COLUMNS` plus
        ``record``; scores are ``nan`` unless ``status == "ok"``.
    """
    if window < 2:
        raise GenomambaError(f"window must be >= 2 bp, got {window}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    genome = fasta if isinstance(fasta, GenomeFile) else GenomeFile(fasta)
    variants = read_vcf(vcf) if isinstance(vcf, (str, os.PathLike)) else list(vcf)
    if device is not None:
        model = model.to(resolve_device(device))
    was_training = model.training
    model.eval()
    try:
        validate_variants(variants, genome, masked=is_masked_model(model))
        ok = [v for v in variants if v.status == "ok"]
        fwd = rev = np.empty(0)
        if ok:
            fwd, rev = _score_ok(model, ok, genome, window, batch_size)
    finally:
        model.train(was_training)
    scores = {id(v): (float(f), float(r)) for v, f, r in zip(ok, fwd, rev, strict=True)}
    rows = []
    for v in variants:
        f, r = scores.get(id(v), (math.nan, math.nan))
        rows.append(
            {
                "chrom": v.chrom, "pos": v.pos, "id": v.id, "ref": v.ref, "alt": v.alt,
                "score": (f + r) / 2, "score_fwd": f, "score_rev": r,
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


# -- CLI -----------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genomamba score-variants",
        description="Zero-shot variant-effect scores (causal LLR or GPN masked logit difference, both strands).",
    )
    p.add_argument("--model", required=True, help="save_pretrained directory, run directory or Lightning .ckpt")
    p.add_argument("--fasta", required=True, help="reference FASTA (.fa / bgzipped .fa.gz)")
    p.add_argument("--vcf", required=True, help="input VCF (.vcf or bgzipped .vcf.gz)")
    p.add_argument("--out", required=True, help="output TSV")
    p.add_argument("--window", type=int, default=512, help="window length in bp centred on the variant (default 512)")
    p.add_argument("--batch-size", type=int, default=64, help="windows per forward pass (default 64)")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--labels", default=None,
                   help="TSV with chrom, pos, ref, alt, label (0/1): report AUROC/AUPRC of the scores against it")
    p.add_argument("--label-key", default="LABEL",
                   help="INFO key holding 0/1 labels in the VCF, used when --labels is not given (default LABEL)")
    p.add_argument("--positive-scores", choices=("lower", "higher"), default="lower",
                   help="label-1 variants are expected to score lower (default: damaging = lower LLR) or higher")
    return p


def label_metrics(
    rows: Sequence[dict[str, Any]], labels: dict[tuple[str, int, str, str], int], positive_scores: str = "lower"
) -> dict[str, Any] | None:
    """AUROC and AUPRC (95% bootstrap CIs) of scored ``rows`` against 0/1 ``labels`` keyed by
    (chrom, pos, ref, alt); ``None`` when fewer than one scored variant of each class is labelled."""
    from genomamba.downstream.stats import auprc_ci, auroc_ci

    y, score = [], []
    for r in rows:
        lab = labels.get((r["chrom"], int(r["pos"]), r["ref"], r["alt"]))
        if lab is not None and r["status"] == "ok":
            y.append(lab)
            score.append(-r["score"] if positive_scores == "lower" else r["score"])
    if len(set(y)) < 2:
        return None
    roc, pr = auroc_ci(y, score), auprc_ci(y, score)
    return {
        "n_labelled": len(y), "n_pos": roc["n_pos"], "n_neg": roc["n_neg"], "positive_scores": positive_scores,
        "auroc": roc["auroc"], "auroc_ci": roc["ci"], "auprc": pr["auprc"], "auprc_ci": pr["ci"], "auprc_chance": pr["chance"],
    }


def _read_labels(args: argparse.Namespace, variants: Sequence[Variant], genome: GenomeFile) -> tuple[dict, str] | None:
    """0/1 labels keyed like :func:`label_metrics` wants, and where they came from; None if none."""
    if args.labels:
        from genomamba.downstream.variants_supervised import read_labelled_variants

        rows = read_labelled_variants(args.labels)
        # The TSV may name a contig by an accession alias of the VCF's record name, or vice versa.
        by_record = {(genome.resolve(str(v.chrom)), v.pos, v.ref, v.alt): v.chrom for v in variants if v.status == "ok"}
        labels = {}
        for r in rows:
            key = (genome.resolve(str(r["chrom"])), int(r["pos"]), str(r["ref"]).upper(), str(r["alt"]).upper())
            if key in by_record:
                labels[(by_record[key], key[1], key[2], key[3])] = int(r["label"])
        return labels, f"--labels {args.labels}"
    labels = {}
    for v in variants:
        value = v.extra.get("info", {}).get(args.label_key)
        if value is None:
            continue
        if str(value) not in ("0", "1"):
            raise VCFError(
                f"{args.vcf}, line {v.line}: INFO {args.label_key}={value!r} is not a 0/1 label; fix it, pass "
                f"--label-key with another key, or --labels TSV"
            )
        labels[(v.chrom, v.pos, v.ref, v.alt)] = int(str(value))
    return (labels, f"INFO {args.label_key}") if labels else None


def score_variants_main(argv: list[str] | None = None) -> int:
    """``genomamba score-variants``: returns 0 on success, 2 on a user error (one line on stderr)."""
    args = _parser().parse_args(argv)
    from genomamba.models import GenomambaLM

    try:
        # Everything that can be checked before the model runs is checked first.
        if args.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
        if args.window < 2:
            raise ConfigError(f"--window must be >= 2 bp, got {args.window}")
        device = resolve_device(args.device, option="--device")
        check_output_path(args.out, option="--out")
        model = GenomambaLM.load(args.model)
        genome = GenomeFile(args.fasta)
        variants = read_vcf(args.vcf, info_keys=() if args.labels else (args.label_key,))
        rows = score_variants(model, genome, variants, window=args.window, batch_size=args.batch_size, device=device)
        write_scores_tsv(rows, args.out)
        labelled = _read_labels(args, variants, genome)
        metrics = label_metrics(rows, labelled[0], args.positive_scores) if labelled else None
    except GenomambaError as e:
        print(f"genomamba: error: {e}", file=sys.stderr)
        return 2
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
    print(f"wrote {len(rows)} rows to {args.out} ({summary})", file=sys.stderr)
    if labelled and metrics is None:
        print(f"labels ({labelled[1]}): the scored variants do not include both classes; no AUROC", file=sys.stderr)
    elif metrics:
        print(
            f"labels ({labelled[1]}): {metrics['n_pos']} label-1 and {metrics['n_neg']} label-0 variants scored; "
            f"AUROC {format_ci(metrics['auroc'], metrics['auroc_ci'])}, AUPRC {format_ci(metrics['auprc'], metrics['auprc_ci'])} "
            f"(chance {metrics['auprc_chance']:.3f}); 95% bootstrap CIs; label 1 expected to score {args.positive_scores}",
            file=sys.stderr,
        )
    return 0


def finetune_variant_effect(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`genomamba.downstream.variants_supervised.finetune_variant_effect` (imported lazily:
    scikit-learn is only needed for the supervised path)."""
    from genomamba.downstream.variants_supervised import finetune_variant_effect as _impl

    return _impl(*args, **kwargs)
