"""Single-nucleotide DNA tokenizer.

The vocabulary is fixed (other modules and saved checkpoints rely on these ids)::

    A=0  C=1  G=2  T=3  N=4  PAD=5  MASK=6  BOS(cls)=7  EOS=8      vocab_size = 9

Encoding is case-insensitive. Lowercase letters (soft-masked repeats in UCSC/Ensembl
assemblies) are reported in an optional boolean ``soft_mask``. The IUPAC ambiguity codes
``RYSWKMBDHVN`` (either case) all map to ``N``; any other byte raises
:class:`~genomamba.errors.SequenceError` naming the character, its position and the source.

Encoding is one gather through a 256-entry numpy lookup table over the raw bytes, so it
runs at memory speed rather than at Python-loop speed (see ``benchmarks/bench_tokenize.py``).

Decoding renders ``A C G T N`` as letters and drops special tokens (PAD/MASK/BOS/EOS) by
default, so ``decode(encode(s)) == s.upper()`` with ambiguity codes shown as ``N``. Pass
``keep_special=True`` to render them as ``[PAD]``, ``[MASK]``, ``[BOS]``, ``[EOS]``.

>>> tok = DNATokenizer()
>>> tok.encode("ACgtN").tolist()
[0, 1, 2, 3, 4]
>>> ids, soft = tok.encode("ACgtR", return_soft_mask=True)
>>> ids.tolist(), soft.tolist()
([0, 1, 2, 3, 4], [False, False, True, True, False])
>>> tok.decode(tok.reverse_complement(tok.encode("AACGN")))
'NCGTT'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np
import torch

from genomamba.errors import SequenceError

# The ids live in genomamba.tokens (below data and models, which both need them); they are
# re-exported here, where users look for the tokenizer's vocabulary.
from genomamba.tokens import (
    A_ID,
    BOS_ID,
    C_ID,
    COMPLEMENT_MAP,
    EOS_ID,
    G_ID,
    MASK_ID,
    N_ID,
    N_NUCLEOTIDES,
    NUCLEOTIDE_IDS,
    NUCLEOTIDE_LETTERS,
    PAD_ID,
    T_ID,
    VOCAB_SIZE,
)

__all__ = ["COMPLEMENT_IDS", "DNATokenizer", "SPECIAL_TOKENS", "reverse_complement_str"]
# the vocabulary, as re-exported above
__all__ += ["A_ID", "C_ID", "G_ID", "T_ID", "N_ID", "PAD_ID", "MASK_ID", "BOS_ID", "EOS_ID", "VOCAB_SIZE"]
__all__ += ["COMPLEMENT_MAP", "N_NUCLEOTIDES", "NUCLEOTIDE_IDS", "NUCLEOTIDE_LETTERS"]

#: Rendering of special ids when decoding with ``keep_special=True``.
SPECIAL_TOKENS: dict[int, str] = {PAD_ID: "[PAD]", MASK_ID: "[MASK]", BOS_ID: "[BOS]", EOS_ID: "[EOS]"}

#: ``COMPLEMENT_IDS[i]`` is the id of the Watson-Crick complement of id ``i``
#: (A<->T, C<->G; N and the special tokens map to themselves).
COMPLEMENT_IDS: np.ndarray = np.array(COMPLEMENT_MAP, dtype=np.int64)
COMPLEMENT_IDS.setflags(write=False)

_IUPAC_AMBIGUOUS = "RYSWKMBDHVN"
_INVALID = -1


def _build_lut() -> np.ndarray:
    lut = np.full(256, _INVALID, dtype=np.int64)
    for idx, letter in zip(NUCLEOTIDE_IDS, NUCLEOTIDE_LETTERS, strict=True):
        lut[ord(letter)] = idx
        lut[ord(letter.lower())] = idx
    for letter in _IUPAC_AMBIGUOUS:
        lut[ord(letter)] = N_ID
        lut[ord(letter.lower())] = N_ID
    lut.setflags(write=False)
    return lut


_LUT = _build_lut()
# After validation every byte is an ASCII letter, and lowercase letters are exactly the bytes
# >= ord("a") (uppercase <= ord("Z")): one vectorised compare instead of a second gather.
_LOWER_MIN = ord("a")
_DECODE = np.array(list(NUCLEOTIDE_LETTERS + "N"))  # _DECODE[id] for ids 0 .. N_ID


def _as_bytes(seq: Any) -> bytes:
    if isinstance(seq, bytes | bytearray | memoryview):
        return bytes(seq)
    if isinstance(seq, str):
        try:
            return seq.encode("ascii")
        except UnicodeEncodeError as err:
            # Report the offending character and its position, as for any other bad byte.
            pos = err.start
            raise SequenceError(
                f"invalid character {seq[pos]!r} at position {pos}: only A, C, G, T and IUPAC codes are allowed"
            ) from None
    # Bio.Seq.Seq / MutableSeq and pyfaidx.Sequence all stringify to their letters.
    return str(seq).encode("ascii")


def reverse_complement_str(seq: str) -> str:
    """Reverse complement of a nucleotide string (IUPAC-aware, case preserved), via Biopython."""
    from Bio.Seq import reverse_complement

    return reverse_complement(seq)


class DNATokenizer:
    """Character-level DNA tokenizer with fixed ids; see the module docstring for the vocabulary."""

    vocab_size: int = VOCAB_SIZE
    pad_id: int = PAD_ID
    mask_id: int = MASK_ID
    bos_id: int = BOS_ID
    cls_id: int = BOS_ID
    eos_id: int = EOS_ID
    n_id: int = N_ID
    nucleotide_ids: tuple[int, int, int, int] = NUCLEOTIDE_IDS
    complement_ids: np.ndarray = COMPLEMENT_IDS

    @overload
    def encode(
        self, seq: Any, *, return_soft_mask: Literal[False] = ..., source: str | None = ...
    ) -> np.ndarray: ...
    @overload
    def encode(
        self, seq: Any, *, return_soft_mask: Literal[True], source: str | None = ...
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def encode(
        self, seq: Any, *, return_soft_mask: bool = False, source: str | None = None
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Encode a nucleotide sequence.

        Args:
            seq: ``str``, ``bytes`` or anything whose ``str()`` is the sequence (``Bio.Seq``).
            return_soft_mask: also return which positions were lowercase.
            source: where the sequence came from (e.g. ``"genome.fa:chr1"``), for error messages.

        Returns:
            ``ids`` int64 ``(L,)``, or ``(ids, soft_mask)`` with ``soft_mask`` bool ``(L,)``.

        Raises:
            SequenceError: a character is neither A/C/G/T nor an IUPAC ambiguity code.
        """
        try:
            raw = np.frombuffer(_as_bytes(seq), dtype=np.uint8)
        except SequenceError as err:
            raise SequenceError(f"{source + ': ' if source else ''}{err}") from None
        ids = _LUT[raw]  # (L,) int64: one vectorised gather, no per-base Python work
        if ids.size and ids.min() < 0:
            pos = int(np.flatnonzero(ids < 0)[0])
            char = chr(raw[pos])
            where = f" in {source}" if source else ""
            raise SequenceError(
                f"invalid character {char!r} (byte {raw[pos]}) at position {pos}{where}: only A, C, G, T "
                f"and the IUPAC ambiguity codes {_IUPAC_AMBIGUOUS} (either case) are allowed; "
                "remove or replace it (e.g. with N)"
            )
        if return_soft_mask:
            return ids, raw >= _LOWER_MIN
        return ids

    def decode(self, ids: Sequence[int] | np.ndarray | torch.Tensor, *, keep_special: bool = False) -> str:
        """Decode a 1-D id sequence to letters; special tokens are dropped unless ``keep_special``.

        Args:
            ids: ``(L,)`` token ids.
        """
        arr = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
        if arr.ndim != 1:
            raise ValueError(f"decode expects a 1-D id sequence, got shape {tuple(arr.shape)}")
        arr = arr.astype(np.int64, copy=False)
        if arr.size and (arr.min() < 0 or arr.max() >= VOCAB_SIZE):
            bad = int(arr[(arr < 0) | (arr >= VOCAB_SIZE)][0])
            raise ValueError(f"token id {bad} is outside the vocabulary [0, {VOCAB_SIZE})")
        is_base = arr <= N_ID
        if not keep_special or is_base.all():
            return "".join(_DECODE[arr[is_base]])
        return "".join(_DECODE[i] if i <= N_ID else SPECIAL_TOKENS[int(i)] for i in arr)

    def reverse_complement(self, ids: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Reverse-complement ids along the last dimension.

        Args:
            ids: integer ids ``(..., L)``, numpy array or torch tensor (any device).

        Returns:
            Same type and shape ``(..., L)``; special tokens are kept (and moved with the flip).
        """
        if isinstance(ids, torch.Tensor):
            comp = torch.tensor(COMPLEMENT_IDS.tolist(), device=ids.device)[ids.long()].to(ids.dtype)
            return comp.flip(-1)
        arr = np.asarray(ids)
        return COMPLEMENT_IDS[arr].astype(arr.dtype, copy=False)[..., ::-1].copy()

    @staticmethod
    def reverse_complement_str(seq: str) -> str:
        """See :func:`reverse_complement_str`."""
        return reverse_complement_str(seq)

    def __len__(self) -> int:
        return VOCAB_SIZE

    def __repr__(self) -> str:
        return "DNATokenizer(vocab_size=9: A C G T N PAD MASK BOS EOS)"
