"""Relative tracks: a related genome's bases aligned to every position of a genome, as a FASTA.

A *track FASTA* has the genome's own records, each exactly as long, and holds at every position
the base that a related genome has aligned there, as read on the genome's plus strand, or ``N``
where nothing is aligned. ``genomamba make-relative-track`` writes one
(:func:`~genomamba.downstream.genes.homologs.aligned_relative_track`); models trained with
``model.relative_track=true`` read it as a second input (``track_ids``), and the DataModule,
``genomamba evaluate``, ``score-variants`` and ``variant-benchmark`` cut it with the same
coordinates as the genome's windows.

Track codes are the token ids A, C, G, T, N = 0..4 (:data:`~genomamba.tokens.TRACK_CODES`); any
other letter reads as N. Being token ids, a track's other strand is
``DNATokenizer().reverse_complement(codes)``, as for the window it belongs to.
"""

from __future__ import annotations

import os

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import DNATokenizer
from genomamba.errors import ConfigError
from genomamba.tokens import N_ID

__all__ = ["open_track", "track_codes"]

_TOKENIZER = DNATokenizer()
_MAKE = "make it from this genome with `genomamba make-relative-track --fasta GENOME --relative RELATIVE --out TRACK.fa`"


def open_track(path: str | os.PathLike[str] | GenomeFile, genome: GenomeFile, option: str = "track") -> GenomeFile:
    """Open the track FASTA ``path`` of ``genome`` (or check an opened one); :class:`ConfigError`
    naming ``option``, the record and the fix unless it has exactly the genome's records, each of
    the same length."""
    track = path if isinstance(path, GenomeFile) else GenomeFile(path)
    path = track.path
    if path.resolve() == genome.path.resolve():
        raise ConfigError(f"{option}={path} is the genome FASTA itself, not its relative track; {_MAKE}")
    missing = [c for c in genome.lengths if c not in track.lengths]
    if missing:
        raise ConfigError(
            f"{option}={path} has no record {missing[0]!r} of {genome.path.name} (its records: "
            f"{sorted(track.lengths)[:5]}); a track has the genome's own records: {_MAKE}"
        )
    for contig, n in genome.lengths.items():
        if track.lengths[contig] != n:
            raise ConfigError(
                f"{option}={path}: record {contig!r} is {track.lengths[contig]:,} bp but {genome.path.name} has "
                f"{n:,} bp there; the track belongs to another genome or assembly: {_MAKE}"
            )
    return track


def track_codes(track: GenomeFile, contig: str, start: int, end: int) -> np.ndarray:
    """Codes ``(end - start,)`` int64 of ``track`` over ``contig[start:end]`` (A, C, G, T = 0..3, else N = 4)."""
    ids = _TOKENIZER.encode(track.fetch(contig, start, end), source=f"{track.path}:{contig}:{start}-{end}")
    return np.minimum(np.asarray(ids, dtype=np.int64), N_ID)
