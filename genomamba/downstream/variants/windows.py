"""Reference and alternate sequence windows centred on variants, as token ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import DNATokenizer
from genomamba.data.tracks import track_codes
from genomamba.downstream.variants.vcf import Variant
from genomamba.tokens import N_ID

__all__ = ["VariantWindows", "build_variant_windows", "window_bounds"]

_TOK = DNATokenizer()


def window_bounds(start: int, ref_len: int, contig_len: int, window: int) -> tuple[int, int]:
    """[s, e) of a ``window``-bp reference window centred on the REF allele, clipped to the contig.

    >>> window_bounds(1000, 1, 10_000, 8), window_bounds(2, 1, 10_000, 8), window_bounds(9998, 1, 10_000, 8)
    ((996, 1004), (0, 8), (9992, 10000))
    """
    if contig_len <= window:
        return 0, contig_len
    s = start + ref_len // 2 - window // 2
    s = min(max(0, s), contig_len - window)
    return s, s + window


@dataclass
class VariantWindows:
    """Windows of N variants, aligned by index.

    Attributes:
        ref: N reference windows, token ids ``(L_i,)`` (``window`` bp unless the contig is shorter).
        alt: N windows with the ALT allele in place of REF, ``(L_i + len(alt) - len(ref),)``.
        offset: 0-based position of each variant's first REF base inside its reference window.
        ref_track, alt_track: with a relative track, its codes over each REF and ALT window
            (``(L_i,)``; the ALT allele's own bases read N, nothing aligns to an inserted base);
            empty lists otherwise.
    """

    ref: list[np.ndarray]
    alt: list[np.ndarray]
    offset: list[int]
    ref_track: list[np.ndarray] = field(default_factory=list)
    alt_track: list[np.ndarray] = field(default_factory=list)


def build_variant_windows(
    variants: Sequence[Variant], genome: GenomeFile, window: int, track: GenomeFile | None = None
) -> VariantWindows:
    """REF and ALT windows of ``window`` bp centred on each variant (see :func:`window_bounds`),
    and the relative ``track``'s codes over them when given (:func:`~genomamba.data.tracks.open_track`).

    The variants must have passed :func:`~genomamba.downstream.variants.vcf.validate_variants`.
    """
    windows = VariantWindows([], [], [])
    for v in variants:
        s, e = window_bounds(v.start, len(v.ref), genome.length(v.chrom), window)
        seq = genome.fetch(v.chrom, s, e).upper()
        offset = v.start - s
        alt_seq = seq[:offset] + v.alt + seq[offset + len(v.ref) :]
        windows.ref.append(_TOK.encode(seq, source=f"{genome.path.name}:{v.chrom}"))
        windows.alt.append(_TOK.encode(alt_seq))
        windows.offset.append(offset)
        if track is not None:
            codes = track_codes(track, v.chrom, s, e)
            windows.ref_track.append(codes)
            if len(v.ref) == len(v.alt):  # a substitution: the relative's bases stay aligned
                windows.alt_track.append(codes)
            else:
                gap = np.full(len(v.alt), N_ID, dtype=np.int64)
                windows.alt_track.append(np.concatenate([codes[:offset], gap, codes[offset + len(v.ref) :]]))
    return windows
