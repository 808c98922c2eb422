"""Token ids of the fixed nucleotide vocabulary: the one home of these numbers.

The vocabulary is a contract (saved checkpoints and configs store ids)::

    A=0  C=1  G=2  T=3  N=4  PAD=5  MASK=6  BOS(cls)=7  EOS=8      vocab_size = 9

This module imports nothing, so both the data pipeline (:mod:`genomamba.data.tokenizer`, which
re-exports these names) and the models (:mod:`genomamba.models.config` defaults) read the ids
from here without depending on each other.

>>> NUCLEOTIDE_IDS == tuple(range(N_NUCLEOTIDES))
True
>>> [COMPLEMENT_MAP[i] for i in NUCLEOTIDE_IDS]  # A<->T, C<->G
[3, 2, 1, 0]
"""

from __future__ import annotations

__all__ = [
    "A_ID",
    "BOS_ID",
    "COMPLEMENT_MAP",
    "C_ID",
    "EOS_ID",
    "G_ID",
    "MASK_ID",
    "NUCLEOTIDE_IDS",
    "NUCLEOTIDE_LETTERS",
    "N_ID",
    "N_NUCLEOTIDES",
    "PAD_ID",
    "TRACK_CODES",
    "T_ID",
    "VOCAB_SIZE",
]

A_ID, C_ID, G_ID, T_ID, N_ID = 0, 1, 2, 3, 4
PAD_ID, MASK_ID, BOS_ID, EOS_ID = 5, 6, 7, 8
VOCAB_SIZE = 9

#: The four nucleotides are the ids ``0 .. N_NUCLEOTIDES - 1``; k-mer codes are base-4 numbers
#: of them, and any larger id (N, PAD, specials) is "not a nucleotide".
N_NUCLEOTIDES = 4
NUCLEOTIDE_IDS: tuple[int, int, int, int] = (A_ID, C_ID, G_ID, T_ID)
#: ``NUCLEOTIDE_LETTERS[i]`` is the letter of nucleotide id ``i``.
NUCLEOTIDE_LETTERS = "ACGT"

#: ``COMPLEMENT_MAP[i]`` is the id of the Watson-Crick complement of id ``i``
#: (A<->T, C<->G; N and the special tokens map to themselves). For nucleotides this is
#: ``N_NUCLEOTIDES - 1 - i``.
#: A relative-track's codes (``GenomambaConfig.relative_track``) are the ids A, C, G, T, N, so
#: track positions complement with ``COMPLEMENT_MAP`` like tokens; N = 4 means "nothing aligned".
TRACK_CODES = N_ID + 1

COMPLEMENT_MAP: tuple[int, ...] = (T_ID, G_ID, C_ID, A_ID, N_ID, PAD_ID, MASK_ID, BOS_ID, EOS_ID)
