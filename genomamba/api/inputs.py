"""Input normalisation for the inference API: anything accepted as ``sequences`` -> token ids.

Inputs (``sequences``) may be

* a list of nucleotide strings (IUPAC ambiguity codes become N), ``Bio.Seq`` objects or
  Biopython ``SeqRecord`` objects;
* a FASTA path (``str`` or ``os.PathLike``; plain or BGZF): every record, in file order;
* a list of intervals ``(fasta, contig, start, end)`` (0-based, half-open), read through
  :class:`~genomamba.data.GenomeFile` (validated pyfaidx);
* a single nucleotide string (one sequence). A lone ``str`` that contains ``/``, ends in a
  FASTA suffix (``.fa``, ``.fasta``, ``.fna``, ``.fa.gz`` ...) or names an existing file is
  taken as a path, never as a sequence; inside a list, strings are always sequences.

Already tokenized windows (token ids, e.g. drawn by :mod:`genomamba.data.windows`) go through
:func:`sources_from_token_ids` instead, with no round trip through text; the
:class:`SequenceSource` objects it returns are accepted as items too.

Bad characters raise :class:`~genomamba.errors.SequenceError` and missing / malformed FASTA
files :class:`~genomamba.errors.FastaError`, naming the record.

>>> [s.length for s in as_sources(["ACGT", "AC"])]
[4, 2]
>>> ids, mask = read_chunk(sources_from_token_ids([[0, 0, 1, 2], [3, 3]]), 1, 4, rc=True)
>>> ids.tolist(), mask.tolist()  # the reverse complements CGTT and AA, from position 1
([[2, 3, 3], [0, 5, 5]], [[True, True, True], [True, False, False]])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from genomamba.data.batching import pad_token_ids
from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import COMPLEMENT_IDS, N_ID, DNATokenizer
from genomamba.errors import SequenceError, WindowError

__all__ = ["SequenceSource", "as_sources", "read_chunk", "sources_from_token_ids"]

_TOKENIZER = DNATokenizer()
_FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".ffn", ".frn", ".faa")


@dataclass
class SequenceSource:
    """One input sequence: a name for messages, its length and a chunk reader.

    ``read(start, end)`` returns the token ids ``(end - start,)`` int64 of ``[start, end)``.
    Strings are tokenized once; FASTA records and intervals are fetched per chunk, so a
    whole chromosome is never held as text.
    """

    name: str
    length: int
    read: Callable[[int, int], np.ndarray]

    def read_rc(self, start: int, end: int) -> np.ndarray:
        """Ids ``[start, end)`` of the reverse complement (coordinates on the RC strand)."""
        ids = self.read(self.length - end, self.length - start)
        return COMPLEMENT_IDS[ids][::-1].copy()


def _from_ids(ids: np.ndarray, name: str) -> SequenceSource:
    return SequenceSource(name, int(ids.shape[0]), lambda s, e: ids[s:e])


def _from_string(seq: Any, name: str) -> SequenceSource:
    return _from_ids(_TOKENIZER.encode(seq, source=name), name)


def _from_genome(genome: GenomeFile, contig: str, start: int, end: int, name: str) -> SequenceSource:
    def read(s: int, e: int) -> np.ndarray:
        if e <= s:
            return np.zeros(0, dtype=np.int64)
        seq = genome.fetch(contig, start + s, start + e)
        return _TOKENIZER.encode(seq, source=f"{name} [{start + s}, {start + e})")

    return SequenceSource(name, end - start, read)


def _looks_like_path(x: Any) -> bool:
    if isinstance(x, os.PathLike):
        return True
    if not isinstance(x, str):
        return False
    low = x.lower().removesuffix(".gz").removesuffix(".bgz")
    return "/" in x or os.sep in x or low.endswith(_FASTA_SUFFIXES) or (len(x) < 4096 and os.path.isfile(x))


class _GenomeCache:
    """Open each FASTA once per call (validation + index happen in ``GenomeFile``)."""

    def __init__(self) -> None:
        self._open: dict[str, GenomeFile] = {}

    def get(self, path: str | os.PathLike[str]) -> GenomeFile:
        key = str(Path(path).expanduser())
        if key not in self._open:
            self._open[key] = GenomeFile(key)
        return self._open[key]


def _check_not_empty(sources: list[SequenceSource]) -> list[SequenceSource]:
    if not sources:
        raise SequenceError("no sequences given")
    empty = [s.name for s in sources if s.length == 0]
    if empty:
        raise SequenceError(f"{empty[0]} is empty; every sequence needs at least one base")
    return sources


def as_sources(sequences: Any) -> list[SequenceSource]:
    """Normalise any accepted input (see the module docstring) to a list of sources.

    Raises:
        FastaError: a FASTA path is missing or unusable.
        SequenceError: a sequence has a non-nucleotide character, or an item has an unknown type.
        WindowError: an interval lies outside its record.
    """
    genomes = _GenomeCache()
    if _looks_like_path(sequences):
        g = genomes.get(sequences)
        return [_from_genome(g, c, 0, n, f"{g.path}:{c}") for c, n in g.lengths.items()]
    if isinstance(sequences, str | bytes):
        sequences = [sequences]  # one sequence; goes through the same checks as a list
    if not isinstance(sequences, Iterable):
        raise SequenceError(f"cannot embed an object of type {type(sequences).__name__}; see genomamba.api")
    out: list[SequenceSource] = []
    for i, item in enumerate(sequences):
        if isinstance(item, SequenceSource):  # already normalised (e.g. sources_from_token_ids)
            out.append(item)
        elif isinstance(item, tuple) and len(item) == 4 and _looks_like_path(item[0]):
            path, contig, start, end = item
            g = genomes.get(path)
            if not (isinstance(start, int | np.integer) and isinstance(end, int | np.integer)):
                raise SequenceError(f"interval {i} {item!r}: start and end must be integers (0-based, half-open)")
            record = g.contigs.get(str(contig), where=f"interval {i}: ")  # accession aliases accepted
            n = None if record is None else g.lengths[record]
            if n is None or not 0 <= int(start) < int(end) <= n:
                where = f"record length {n}" if n is not None else f"no such record; records: {list(g.lengths)[:10]}"
                raise WindowError(f"interval {i} {g.path}:{contig}:{start}-{end} is not inside the genome ({where})")
            name = f"{g.path}:{contig}:{start}-{end}"
            out.append(_from_genome(g, str(record), int(start), int(end), name))
        elif hasattr(item, "seq") and hasattr(item, "id"):  # Bio.SeqRecord.SeqRecord
            out.append(_from_string(item.seq, f"record {item.id!r} (item {i})"))
        elif isinstance(item, os.PathLike) or (isinstance(item, str) and _looks_like_path(item) and not item.isalpha()):
            raise SequenceError(
                f"item {i} {str(item)!r} is a file path inside a list, where sequences go: pass a FASTA path alone "
                f"(embed({str(item)!r})) or as a (fasta, contig, start, end) interval"
            )
        elif isinstance(item, str | bytes) or type(item).__name__ in ("Seq", "MutableSeq"):
            out.append(_from_string(item, f"sequence {i}"))
        else:
            raise SequenceError(
                f"item {i} has type {type(item).__name__}; expected a nucleotide string, a SeqRecord or a "
                "(fasta, contig, start, end) interval"
            )
    return _check_not_empty(out)


def sources_from_token_ids(token_ids: np.ndarray | Sequence[Sequence[int]]) -> list[SequenceSource]:
    """Sources over already tokenized sequences.

    Args:
        token_ids: an integer array ``(N, L)`` or N integer sequences ``(L_i,)`` of nucleotide
            ids A=0 C=1 G=2 T=3 N=4 (:mod:`genomamba.data.tokenizer`).

    Raises:
        SequenceError: an id outside A/C/G/T/N (padding or special tokens are not sequence), a
            row that is not one-dimensional, or an empty input / row.
    """
    out = []
    for i, row in enumerate(token_ids):
        ids = np.asarray(row)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise SequenceError(f"token ids {i}: expected a 1-D integer array, got dtype {ids.dtype} and shape {ids.shape}")
        bad = np.flatnonzero((ids < 0) | (ids > N_ID))
        if bad.size:
            raise SequenceError(
                f"token ids {i}: id {int(ids[bad[0]])} at position {int(bad[0])} is not a nucleotide (A=0 C=1 G=2 T=3 N=4)"
            )
        out.append(_from_ids(ids.astype(np.int64), f"token ids {i}"))
    return _check_not_empty(out)


def read_chunk(sources: Sequence[SequenceSource], start: int, end: int, rc: bool) -> tuple[Tensor, Tensor]:
    """Positions ``[start, end)`` of each source (or of its reverse complement), right-padded.

    Returns:
        ``input_ids`` int64 ``(B, l)`` and ``attention_mask`` bool ``(B, l)`` on the CPU, where
        ``l`` is the longest piece; a source that ends before ``start`` is all padding.
    """
    pieces = []
    for source in sources:
        stop = min(end, source.length)
        if stop <= start:
            pieces.append(np.zeros(0, dtype=np.int64))
        else:
            pieces.append(source.read_rc(start, stop) if rc else source.read(start, stop))
    return pad_token_ids(pieces)
