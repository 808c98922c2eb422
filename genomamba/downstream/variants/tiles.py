"""The tiled scoring context of causal variant scores: which bases a variant's score reads.

A causal model's score of a variant at position p reads a *context* (the bases before p on the
strand read, which only condition the model) and a *score window* (the ALT allele and the bases
after it, whose log-probabilities and hidden states make the LLR, the influence and the shift).
The ``window`` method centres one window of W bp on each variant (context W/2 bp). The
``tiled`` method takes the context from fixed tiles of the contig, so that all variants of a tile
share one reference pass (:mod:`genomamba.downstream.variants.state_reuse`), and so that a
variant's score depends only on its own position, never on which other variants are scored.

For a score window of ``W`` bp (``--window``, default 512), with ``T = W`` (tile length),
``C = W // 2`` (least context) and ``A = W - W // 2`` (score window), 0-based positions, a
contig of ``N`` bp, and a variant whose REF allele covers ``[p, q]``:

* forward strand: tile ``k = p // T``; the model reads ``[max(0, k T - C), min(N, q + A))``, so
  the context is ``C`` to ``C + T - 1`` bp (less only at the contig start) and the ALT allele
  and the ``A - 1`` bases after it are scored;
* reverse strand, the mirror image: tile ``k' = q // T``; the model reads the reverse complement
  of ``[max(0, p - A + 1), min(N, (k' + 1) T + C))``, context the bases after the variant.

A relative-track model reads the track one base ahead at every position, also at the last one:
the code just after the read span (N past the contig's end), as a single pass over the whole
contig would.

>>> ctx = TiledContext(512)
>>> ctx.tile, ctx.context, ctx.after
(512, 256, 256)
>>> ctx.forward_span(1000, 1, 10_000), ctx.reverse_span(1000, 1, 10_000)
((256, 1256), (745, 1280))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import DNATokenizer
from genomamba.data.tracks import track_codes
from genomamba.downstream.variants.state_reuse import ContextGroup
from genomamba.downstream.variants.vcf import Variant
from genomamba.errors import GenomambaError
from genomamba.tokens import N_ID

__all__ = ["StrandWindows", "TiledContext", "build_tiled_windows", "tile_groups"]

_TOK = DNATokenizer()


@dataclass(frozen=True)
class TiledContext:
    """Tile geometry for a score window of ``window`` bp (see the module docstring)."""

    window: int

    def __post_init__(self) -> None:
        if self.window < 2:
            raise GenomambaError(f"window must be >= 2 bp, got {self.window}")

    @property
    def tile(self) -> int:
        """T: tile length in bp."""
        return self.window

    @property
    def context(self) -> int:
        """C: the least context in bp (away from contig ends)."""
        return self.window // 2

    @property
    def after(self) -> int:
        """A: bases scored from the variant's (last) base on, that base included."""
        return self.window - self.window // 2

    def forward_span(self, start: int, ref_len: int, contig_len: int) -> tuple[int, int]:
        """[s, e) read on the forward strand for a REF allele at 0-based ``start``."""
        k = start // self.tile
        return max(0, k * self.tile - self.context), min(contig_len, start + max(ref_len, 1) - 1 + self.after)

    def reverse_span(self, start: int, ref_len: int, contig_len: int) -> tuple[int, int]:
        """[lo, hi) whose reverse complement is read on the reverse strand."""
        last = start + max(ref_len, 1) - 1
        k = last // self.tile
        return max(0, start - self.after + 1), min(contig_len, (k + 1) * self.tile + self.context)


@dataclass
class StrandWindows:
    """Windows of N variants on one strand, aligned by index, as the model reads them.

    Attributes:
        ref, alt: token ids ``(L_i,)`` and ``(L_i + len(alt) - len(ref),)``; reverse-complemented
            for the reverse strand.
        offset: position of the (first, on this strand) REF base inside ``ref``.
        ref_track, alt_track: with a relative track, its codes over each window plus the code
            just after it (``(L_i + 1,)``, the form for exact streaming; ALT-allele bases of an
            indel read N); empty lists otherwise.
    """

    ref: list[np.ndarray] = field(default_factory=list)
    alt: list[np.ndarray] = field(default_factory=list)
    offset: list[int] = field(default_factory=list)
    ref_track: list[np.ndarray] = field(default_factory=list)
    alt_track: list[np.ndarray] = field(default_factory=list)


def track_with_next(track: GenomeFile, contig: str, start: int, end: int, contig_len: int) -> np.ndarray:
    """Track codes over ``[start, end)`` and the code at ``end`` (N at the contig's end): ``(end - start + 1,)``."""
    codes = track_codes(track, contig, start, min(end + 1, contig_len))
    return codes if end < contig_len else np.append(codes, N_ID)


def track_with_previous(track: GenomeFile, contig: str, start: int, end: int) -> np.ndarray:
    """The code at ``start - 1`` (N at the contig's start) and the codes over ``[start, end)``:
    reverse-complemented, the reverse strand's codes plus the one after them."""
    codes = track_codes(track, contig, max(start - 1, 0), end)
    return codes if start > 0 else np.concatenate([[N_ID], codes])


def _add(windows: StrandWindows, seq: str, v: Variant, offset: int, codes: np.ndarray | None, reverse: bool,
         source: str) -> None:
    alt_seq = seq[:offset] + v.alt + seq[offset + len(v.ref):]
    ref, alt = _TOK.encode(seq, source=source), _TOK.encode(alt_seq)
    if codes is not None:
        # codes: plus-strand codes over the window with the next (forward) or previous (reverse) one
        lead = 1 if reverse else 0
        if len(v.ref) == len(v.alt):
            alt_codes = codes
        else:
            gap = np.full(len(v.alt), N_ID, dtype=np.int64)
            cut = lead + offset
            alt_codes = np.concatenate([codes[:cut], gap, codes[cut + len(v.ref):]])
        windows.ref_track.append(_TOK.reverse_complement(codes) if reverse else codes)
        windows.alt_track.append(_TOK.reverse_complement(alt_codes) if reverse else alt_codes)
    if reverse:
        ref, alt = _TOK.reverse_complement(ref), _TOK.reverse_complement(alt)
        offset = len(seq) - offset - len(v.ref)
    windows.ref.append(np.asarray(ref))
    windows.alt.append(np.asarray(alt))
    windows.offset.append(offset)


def build_tiled_windows(
    variants: Sequence[Variant], genome: GenomeFile, window: int, track: GenomeFile | None = None
) -> tuple[StrandWindows, StrandWindows]:
    """Whole REF and ALT windows of the tiled context, forward strand and reverse strand (the
    reference computation: each window runs through the model from its first base).

    The variants must have passed :func:`~genomamba.downstream.variants.vcf.validate_variants`.
    """
    ctx = TiledContext(window)
    fwd, rev = StrandWindows(), StrandWindows()
    for v in variants:
        n = genome.length(v.chrom)
        source = f"{genome.path.name}:{v.chrom}"
        s, e = ctx.forward_span(v.start, len(v.ref), n)
        codes = None if track is None else track_with_next(track, v.chrom, s, e, n)
        _add(fwd, genome.fetch(v.chrom, s, e).upper(), v, v.start - s, codes, False, source)
        lo, hi = ctx.reverse_span(v.start, len(v.ref), n)
        codes = None if track is None else track_with_previous(track, v.chrom, lo, hi)
        _add(rev, genome.fetch(v.chrom, lo, hi).upper(), v, v.start - lo, codes, True, source)
    return fwd, rev


def tile_groups(
    chroms: Sequence[str], starts: Sequence[int], alts: Sequence[str], genome: GenomeFile, window: int,
    track: GenomeFile | None = None,
) -> list[ContextGroup]:
    """The N SNVs (``chroms``, 0-based ``starts``, ALT letters) grouped by tile and strand, each
    group with the sequence its tile reads, for
    :func:`~genomamba.downstream.variants.state_reuse.score_groups` with ``n_out = 2 N``: the i-th
    SNV's forward-strand scores go to slot i, its reverse-strand scores to slot N + i."""
    ctx = TiledContext(window)
    starts_a = np.asarray(starts, dtype=np.int64)
    alt_ids = np.asarray(_TOK.encode("".join(alts)), dtype=np.int64) if len(alts) else np.zeros(0, np.int64)
    comp = np.asarray(_TOK.complement_ids)
    by_tile: dict[tuple[str, int], list[int]] = {}
    for i, (chrom, p) in enumerate(zip(chroms, starts_a.tolist(), strict=True)):
        by_tile.setdefault((chrom, p // ctx.tile), []).append(i)
    groups = []
    for (chrom, k), members in by_tile.items():
        idx = np.asarray(members, dtype=np.int64)
        p = starts_a[idx]
        n = genome.length(chrom)
        source = f"{genome.path.name}:{chrom}"
        # forward strand: from the tile's context start to the last window end
        s = max(0, k * ctx.tile - ctx.context)
        ends = np.minimum(n, p + ctx.after)
        e = int(ends.max())
        ref = np.asarray(_TOK.encode(genome.fetch(chrom, s, e).upper(), source=source), dtype=np.int64)
        codes = None if track is None else track_with_next(track, chrom, s, e, n)
        groups.append(ContextGroup(ref, codes, p - s, alt_ids[idx], ends - s, idx))
        # reverse strand: the reverse complement of [lo, hi), context after the tile
        hi = min(n, (k + 1) * ctx.tile + ctx.context)
        firsts = np.maximum(0, p - ctx.after + 1)
        lo = int(firsts.min())
        rc = np.asarray(_TOK.reverse_complement(_TOK.encode(genome.fetch(chrom, lo, hi).upper(), source=source)),
                        dtype=np.int64)
        rc_codes = None if track is None else np.asarray(_TOK.reverse_complement(track_with_previous(track, chrom, lo, hi)))
        groups.append(ContextGroup(rc, rc_codes, hi - 1 - p, comp[alt_ids[idx]], hi - firsts, idx + len(starts_a)))
    return groups
