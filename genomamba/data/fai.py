"""Does an index describe this FASTA? Verification of ``.fai`` / ``.gzi`` files against the bytes.

An index is trusted only if it is newer than the FASTA *and* agrees with its bytes: a .fai
copied from another file, left from an earlier version of the FASTA, or truncated would
otherwise make pyfaidx read the wrong bases (or crash) silently. The checks read a few
hundred bytes per sampled record, never the sequence itself.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = ["index_mismatch"]

_SAMPLED_RECORDS = 64


class _FaiRecord(NamedTuple):
    name: str
    length: int
    offset: int
    line_bases: int
    line_width: int

    @property
    def end(self) -> int:
        """Byte offset just after the last base (before its newline if the last line is partial)."""
        full, rest = divmod(self.length, self.line_bases) if self.line_bases else (0, 0)
        return self.offset + full * self.line_width + rest


def _read_fai(fai: Path) -> list[_FaiRecord] | str:
    """Records of a ``.fai``, or why it is not a valid one."""
    try:
        text = fai.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return f"it cannot be read as text ({err})"
    out: list[_FaiRecord] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        cols = line.split("\t")
        try:
            if len(cols) != 5 or not cols[0]:
                raise ValueError
            rec = _FaiRecord(cols[0], *(int(c) for c in cols[1:]))
        except ValueError:
            return f"line {lineno} is not 'name<TAB>length<TAB>offset<TAB>linebases<TAB>linewidth'"
        if min(rec[1:]) < 0 or rec.line_width < rec.line_bases or (rec.length > 0 and rec.line_bases == 0):
            return f"line {lineno} has impossible numbers {list(rec[1:])}"
        if out and rec.offset < out[-1].end:
            return f"record {rec.name!r} starts before the previous record ends"
        out.append(rec)
    return out or "it is empty"


def _read_gzi(gzi: Path, size: int) -> list[tuple[int, int]] | str:
    """``[(compressed, uncompressed)]`` block starts of a ``.gzi`` (htslib format), or why not."""
    try:
        data = gzi.read_bytes()
    except OSError as err:
        return f"it cannot be read ({err})"
    if len(data) < 8:
        return "it is truncated"
    (n,) = struct.unpack_from("<Q", data)
    if len(data) != 8 + 16 * n:
        return f"its size ({len(data)} bytes) does not match its {n} entries"
    blocks = [(0, 0), *(struct.unpack_from("<QQ", data, 8 + 16 * i) for i in range(n))]
    for (c0, u0), (c1, u1) in zip(blocks, blocks[1:], strict=False):
        if not (c0 < c1 < size and u0 < u1 <= u0 + 65536):
            return "its block offsets are not those of this file"
    return blocks


class _ByteReader:
    """Random access to the uncompressed bytes of a plain or BGZF file (BGZF through its .gzi)."""

    def __init__(self, path: Path, blocks: list[tuple[int, int]] | None):
        self._blocks = blocks
        if blocks is None:
            self._fh: Any = open(path, "rb")
        else:
            from Bio import bgzf

            self._fh = bgzf.BgzfReader(str(path), "rb")
            self._ustarts = [u for _, u in blocks]

    def read(self, start: int, n: int) -> bytes:
        if self._blocks is None:
            self._fh.seek(start)
        else:
            from Bio import bgzf

            i = bisect.bisect_right(self._ustarts, start) - 1
            cstart, ustart = self._blocks[i]
            self._fh.seek(bgzf.make_virtual_offset(cstart, start - ustart))
        return self._fh.read(n)

    def close(self) -> None:
        self._fh.close()


def _sampled(n: int) -> list[int]:
    if n <= _SAMPLED_RECORDS:
        return list(range(n))
    spread = np.linspace(0, n - 1, _SAMPLED_RECORDS // 2).round().astype(int).tolist()
    return sorted({*range(_SAMPLED_RECORDS // 4), *range(n - _SAMPLED_RECORDS // 4, n), *spread})


def index_mismatch(p: Path, is_bgzf: bool, fai: Path, gzi: Path | None, every_record: bool = False) -> str | None:
    """Why the index at ``fai`` (+ ``gzi``) does not describe ``p``, or None when it does
    (checks a sample of records, or ``every_record``)."""
    records = _read_fai(fai)
    if isinstance(records, str):
        return f"{fai} is not a valid .fai index: {records}"
    blocks = None
    if is_bgzf:
        assert gzi is not None
        blocks = _read_gzi(gzi, p.stat().st_size)
        if isinstance(blocks, str):
            return f"{gzi} is not a valid .gzi index of {p.name}: {blocks}"
    try:
        reader = _ByteReader(p, blocks)
    except (OSError, ValueError) as err:
        return f"{p} cannot be read through its index ({err})"
    try:
        for i in range(len(records)) if every_record else _sampled(len(records)):
            rec = records[i]
            prev_end = records[i - 1].end if i else 0
            lo = max(prev_end, rec.offset - 4096)
            before = reader.read(lo, rec.offset - lo)
            header = before.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
            if not before.endswith(b"\n") or not header.startswith(b">") or header[1:].split()[:1] != [rec.name.encode()]:
                return f"{fai} puts record {rec.name!r} at byte {rec.offset}, where {p.name} has no '>{rec.name}' line"
            if i and lo == prev_end and before.rstrip(b"\r\n")[: -len(header)].strip():
                return f"{fai} says record {records[i - 1].name!r} is {records[i - 1].length} bp, which does not match {p.name}"
            if rec.length > rec.line_bases:
                line = reader.read(rec.offset, rec.line_width)
                bases, newline = line[: rec.line_bases], line[rec.line_bases :]
                if newline not in (b"\n", b"\r\n") or len(bases.translate(None, b" \t\r\n>")) != len(bases):
                    return f"{fai} gives record {rec.name!r} lines of {rec.line_bases} bases, which does not match {p.name}"
        tail = reader.read(records[-1].end, 4097)
        if tail.strip() or len(tail) > 4096:
            last = records[-1]
            return f"{fai} says the last record {last.name!r} is {last.length} bp, but {p.name} goes on after it"
    except (OSError, ValueError, EOFError, zlib.error) as err:
        return f"{p} cannot be read through its index ({err})"
    finally:
        reader.close()
    return None
