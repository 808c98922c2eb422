"""Reference and alternate sequence windows centred on variants, as token ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import DNATokenizer
from genomamba.downstream.vcf import Variant

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
    """

    ref: list[np.ndarray]
    alt: list[np.ndarray]
    offset: list[int]


def build_variant_windows(variants: Sequence[Variant], genome: GenomeFile, window: int) -> VariantWindows:
    """REF and ALT windows of ``window`` bp centred on each variant (see :func:`window_bounds`).

    The variants must have passed :func:`~genomamba.downstream.vcf.validate_variants`.
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
    return windows
