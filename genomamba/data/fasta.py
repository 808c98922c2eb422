"""Validated, lazily opened, random-access FASTA genomes (pyfaidx).

:func:`open_fasta` checks a file before pyfaidx sees it and turns every way it can be
unusable into a :class:`~genomamba.errors.FastaError` that names the file and the fix:
missing, empty, not FASTA (VCF, text, binary), plain gzip (not BGZF), duplicate record
names, inconsistent line lengths, empty records.

**Compressed FASTA.** pyfaidx random-accesses only BGZF (``bgzip``) files. A plain-gzip
FASTA is *refused* with an error that gives the one-line conversion, rather than silently
decompressed: for a human genome that would be a 3 GB copy in a cache the user never asked
for. (``bgzip`` keeps the ``.gz`` suffix and stays readable by ``zcat``.)

**Index location.** The ``.fai`` (and ``.gzi`` for BGZF) index is used from next to the FASTA
when present and up to date, and built there when that directory is writable. When it is
not (a read-only data directory, a shared reference), the index is built in the cache
directory ``$GENOMAMBA_CACHE`` (default ``~/.cache/genomamba``) under ``fai/<hash of the
absolute path>/`` and a warning says so; nothing is ever written next to the user's FASTA
in that case.

:class:`GenomeFile` is the picklable handle used by datasets: it records contig lengths and
index paths once, and re-opens pyfaidx lazily in each process (pyfaidx file handles and
locks must not be shared across a ``fork``).
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import logging
import os
import secrets
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyfaidx

from genomamba.data.contigs import ContigNames
from genomamba.errors import FastaError, WindowError
from genomamba.outputs import writable_dir

__all__ = ["GenomeFile", "IndexPaths", "cache_dir", "open_fasta", "open_genomes", "validate_fasta"]

log = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_COMPRESSION = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"\x28\xb5\x2f\xfd": "zstd",
}
_BGZIP_FIX = (
    "convert it to BGZF, which keeps the .gz suffix and stays readable by zcat: "
    "`gunzip -c {p} | bgzip > {stem}.bgz.fa.gz` (htslib), or in Python "
    "`import pysam; pysam.tabix_compress('{stem}.fa', '{stem}.bgz.fa.gz')` after gunzip"
)


def cache_dir() -> Path:
    """The genomamba cache directory: ``$GENOMAMBA_CACHE`` or ``~/.cache/genomamba``."""
    env = os.environ.get("GENOMAMBA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genomamba"


@dataclass(frozen=True)
class IndexPaths:
    """Where the ``.fai`` (and, for BGZF, ``.gzi``) index of a FASTA lives."""

    fai: Path
    gzi: Path | None
    in_cache: bool


def _is_bgzf(head: bytes) -> bool:
    # BGZF = gzip member with FEXTRA set and a 'BC' subfield (SAM spec section 4.1).
    if len(head) < 18 or head[:2] != _GZIP_MAGIC or not head[3] & 4:
        return False
    xlen = int.from_bytes(head[10:12], "little")
    extra = head[12 : 12 + xlen]
    i = 0
    while i + 4 <= len(extra):
        si1, si2, slen = extra[i], extra[i + 1], int.from_bytes(extra[i + 2 : i + 4], "little")
        if (si1, si2) == (66, 67):
            return True
        i += 4 + slen
    return False


def is_bgzf_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` starts with a BGZF block (False for plain gzip and uncompressed files)."""
    with open(path, "rb") as fh:
        return _is_bgzf(fh.read(1024))


def _decompressed_head(path: Path, n: int = 65536) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(n)
    except (OSError, EOFError, zlib.error) as err:
        raise FastaError(
            f"{path}: compressed file cannot be read ({err}); re-download or re-compress it"
        ) from None


def validate_fasta(path: str | os.PathLike[str]) -> tuple[Path, bool]:
    """Check that ``path`` is a readable, non-empty, uncompressed or BGZF FASTA.

    Returns:
        ``(resolved_path, is_bgzf)``.

    Raises:
        FastaError: naming the file and the fix.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FastaError(
            f"FASTA file not found: {p}. Check the path (relative paths are taken from {Path.cwd()})."
        )
    if p.is_dir():
        raise FastaError(
            f"{p} is a directory, not a FASTA file; give the path of the .fa/.fa.gz file inside it."
        )
    if p.stat().st_size == 0:
        raise FastaError(f"FASTA file {p} is empty (0 bytes); re-download or regenerate it.")
    with open(p, "rb") as fh:
        head = fh.read(65536)
    is_bgzf = False
    if head[:2] == _GZIP_MAGIC:
        if not _is_bgzf(head):
            stem = str(p)[: -len(".gz")] if str(p).endswith(".gz") else str(p)
            stem = stem[: -len(".fa")] if stem.endswith(".fa") else stem
            raise FastaError(
                f"{p} is plain gzip, but random access needs block-gzip (BGZF); "
                + _BGZIP_FIX.format(p=p, stem=stem)
                + ". Or decompress it with `gunzip`."
            )
        is_bgzf = True
        head = _decompressed_head(p)
    else:
        for magic, kind in _OTHER_COMPRESSION.items():
            if head.startswith(magic):
                raise FastaError(f"{p} is {kind}-compressed; decompress it and optionally `bgzip` it.")
    if not head.strip():
        raise FastaError(f"FASTA file {p} contains no sequence records (it is empty or blank).")
    if b"\x00" in head:
        raise FastaError(f"{p} is a binary file, not FASTA; expected text records starting with '>'.")
    first = next((ln for ln in head.splitlines() if ln.strip() and not ln.startswith(b";")), b"")
    if not first.startswith(b">"):
        shown = first[:60].decode("ascii", errors="replace")
        raise FastaError(
            f"{p} does not look like FASTA: the first line is {shown!r}, but a FASTA record starts "
            "with '>name'. Pass the genome's .fa/.fasta file (not a VCF/BED/text file)."
        )
    return p, is_bgzf


def _fresh(index: Path, fasta: Path) -> bool:
    return index.exists() and index.stat().st_mtime >= fasta.stat().st_mtime


# -- index validation -----------------------------------------------------------------------
# An index is trusted only if it is newer than the FASTA *and* agrees with its bytes: a .fai
# copied from another file, left from an earlier version of the FASTA, or truncated would
# otherwise make pyfaidx read the wrong bases (or crash) silently. The checks read a few
# hundred bytes per sampled record, never the sequence itself.
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


def _index_mismatch(p: Path, is_bgzf: bool, fai: Path, gzi: Path | None, every_record: bool = False) -> str | None:
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


def _index_problem(p: Path, is_bgzf: bool, fai: Path, gzi: Path | None) -> str | None:
    """None when the index can be used as it is; else why it must be (re)built."""
    if not fai.exists() or (gzi is not None and not gzi.exists()):
        return "missing"
    if not (_fresh(fai, p) and (gzi is None or _fresh(gzi, p))):
        return "older than the FASTA"
    return _index_mismatch(p, is_bgzf, fai, gzi)


def _cache_root(p: Path, cache: Path | None) -> Path:
    root = (cache or cache_dir()) / "fai" / hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:16]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FastaError(
            f"{p}: cannot build its index: {p.parent} is not writable, and neither is the index cache {root} "
            f"({err.strerror}); set GENOMAMBA_CACHE to a writable directory, or index the FASTA where you can "
            f"write (`samtools faidx`) and place the .fai{' and .gzi' if str(p).endswith('gz') else ''} next to it"
        ) from None
    if not writable_dir(root):
        raise FastaError(
            f"{p}: cannot build its index: {p.parent} is not writable, and neither is the index cache {root}; "
            "set GENOMAMBA_CACHE to a writable directory"
        )
    return root


def _index_paths(p: Path, is_bgzf: bool, cache: Path | None) -> IndexPaths:
    fai, gzi = Path(f"{p}.fai"), Path(f"{p}.gzi") if is_bgzf else None
    if _index_problem(p, is_bgzf, fai, gzi) is None or writable_dir(p.parent):
        return IndexPaths(fai, gzi, in_cache=False)
    if fai.exists():
        log.warning("%s: ignoring its index %s (%s)", p, fai, _index_problem(p, is_bgzf, fai, gzi))
    root = _cache_root(p, cache)
    cfai, cgzi = root / fai.name, (root / gzi.name) if gzi else None
    if _index_problem(p, is_bgzf, cfai, cgzi) is not None:
        log.warning(
            "%s: cannot write its index next to it (%s is not writable); building the index in %s instead",
            p,
            p.parent,
            root,
        )
    return IndexPaths(cfai, cgzi, in_cache=True)


def _faidx(p: Path, idx: IndexPaths) -> pyfaidx.Faidx:
    kwargs: dict[str, Any] = {
        "indexname": str(idx.fai),
        "as_raw": True,
        "duplicate_action": "stop",
        "sequence_always_upper": False,
        "rebuild": True,
    }
    if idx.gzi is not None:
        kwargs["gzi_indexname"] = str(idx.gzi)
    try:
        return pyfaidx.Faidx(str(p), **kwargs)
    except pyfaidx.FastaIndexingError as err:
        raise FastaError(
            f"{p}: cannot be indexed: {err}. Every record's lines must have one length except the last "
            "(reformat it, e.g. `seqkit seq -w 60` or `samtools faidx`)."
        ) from None
    except pyfaidx.UnsupportedCompressionFormat as err:
        raise FastaError(f"{p}: {err}") from None
    except RuntimeError as err:  # pyfaidx: "Unhandled exception during fasta indexing" (blank lines)
        raise FastaError(
            f"{p}: cannot be indexed ({str(err).split('Please report')[0].strip()}): a record has blank or "
            "inconsistent lines; reformat it (e.g. `seqkit seq -w 60`)"
        ) from None
    except UnicodeDecodeError as err:
        raise FastaError(
            f"{p}: contains bytes that are not text ({err.reason} at byte {err.start} of a line); "
            "a FASTA file holds ASCII '>name' lines and sequence lines"
        ) from None
    except ValueError as err:
        if "Duplicate key" in str(err):
            name = str(err).split('"')[1] if '"' in str(err) else str(err)
            raise FastaError(
                f"{p}: duplicate record name {name!r} (names are the first word of each '>' line); "
                "rename or remove the duplicate record."
            ) from None
        raise FastaError(
            f"{p}: its index {idx.fai} cannot be read ({err}); delete it so that genomamba rebuilds it"
        ) from None


def open_fasta(
    path: str | os.PathLike[str], *, cache: Path | None = None
) -> tuple[pyfaidx.Faidx, IndexPaths]:
    """Validate and open a FASTA for random access.

    Args:
        path: plain or BGZF-compressed FASTA.
        cache: directory for indexes that cannot be written next to the FASTA
            (default :func:`cache_dir`).

    Returns:
        ``(faidx, index_paths)``; ``faidx.fetch(name, start1, end1)`` returns a ``str``.

    Raises:
        FastaError: see the module docstring; messages name the file and the fix.
    """
    p, is_bgzf = validate_fasta(path)
    idx = _index_paths(p, is_bgzf, cache)
    problem = _index_problem(p, is_bgzf, idx.fai, idx.gzi)
    if problem is None:
        fa = _faidx(p, idx)
        _check_records(p, fa)
        return fa, idx
    if problem not in ("missing", "older than the FASTA"):
        log.warning("%s; rebuilding it", problem)
    try:
        fa = _build_index(p, idx)
    except OSError as err:
        if idx.in_cache or isinstance(err, FileNotFoundError):
            raise FastaError(f"{p}: cannot build or read its index at {idx.fai}: {err}") from None
        # The writability probe passed but the write failed (e.g. a quota): fall back to the cache.
        idx = _index_paths_in_cache(p, is_bgzf, cache)
        log.warning("%s: writing the index next to it failed (%s); using %s", p, err, idx.fai)
        fa = _build_index(p, idx)
    return fa, idx


def _check_records(p: Path, fa: pyfaidx.Faidx) -> None:
    empty = [name for name, rec in fa.index.items() if rec.rlen == 0]
    if empty:
        fa.close()
        raise FastaError(f"{p}: record {empty[0]!r} has no sequence; remove the empty record(s) {empty[:5]}.")


def _build_index(p: Path, idx: IndexPaths) -> pyfaidx.Faidx:
    """Index ``p`` into temporary files beside ``idx`` and move them into place only once the
    FASTA passed every check: a file that fails validation never gets an index, and a
    concurrent reader never sees a half-written one."""
    tag = f"{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp = IndexPaths(
        idx.fai.with_name(f".{idx.fai.name}.{tag}"),
        idx.gzi.with_name(f".{idx.gzi.name}.{tag}") if idx.gzi else None,
        idx.in_cache,
    )
    try:
        fa = _faidx(p, tmp)
        _check_records(p, fa)
        # pyfaidx accepts a record whose last full line ends differently ("ACGT\r\n" then
        # "ACGT\n"); its index then points past the record and fetches read the next header.
        if _index_mismatch(p, idx.gzi is not None, tmp.fai, tmp.gzi, every_record=True) is not None:
            fa.close()
            raise FastaError(
                f"{p}: cannot be indexed: the lines of a record differ in length or in line ending (mixed \\n and "
                "\\r\\n); reformat it with one line width and one kind of line ending (e.g. `seqkit seq -w 60`)"
            )
        if idx.gzi is not None and tmp.gzi is not None:
            os.replace(tmp.gzi, idx.gzi)
        os.replace(tmp.fai, idx.fai)
        return fa
    finally:
        for t in (tmp.fai, tmp.gzi):
            if t is not None:
                t.unlink(missing_ok=True)


def _index_paths_in_cache(p: Path, is_bgzf: bool, cache: Path | None) -> IndexPaths:
    root = _cache_root(p, cache)
    return IndexPaths(root / f"{p.name}.fai", (root / f"{p.name}.gzi") if is_bgzf else None, in_cache=True)


class _OpenFastas:
    """The pyfaidx handles open in this process: at most ``max_open``, least recently used closed first.

    A corpus of thousands of genome files would otherwise keep one descriptor per file in the
    main process and in every DataLoader worker, and stop at the open-file limit (often 1024).
    Handles are keyed by FASTA and index path (files opened twice share one), re-opened on
    demand, and forgotten after a fork: an inherited handle shares its file offset with the
    parent. ``GENOMAMBA_MAX_OPEN_FASTA`` sets the bound (default 128).
    """

    def __init__(self, max_open: int) -> None:
        self.max_open = max(1, int(max_open))
        self._pid = os.getpid()
        self._open: OrderedDict[tuple[str, str], pyfaidx.Faidx] = OrderedDict()

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            self._open = OrderedDict()  # the parent's handles: not ours to use (or close)
            self._pid = os.getpid()

    def get(self, key: tuple[str, str], opener: Callable[[], pyfaidx.Faidx]) -> pyfaidx.Faidx:
        self._check_pid()
        fa = self._open.get(key)
        if fa is None:
            fa = self.put(key, opener())
        else:
            self._open.move_to_end(key)
        return fa

    def put(self, key: tuple[str, str], fa: pyfaidx.Faidx) -> pyfaidx.Faidx:
        self._check_pid()
        old = self._open.pop(key, None)
        if old is not None and old is not fa:
            old.close()
        self._open[key] = fa
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)[1].close()
        return fa

    def close(self, key: tuple[str, str]) -> None:
        self._check_pid()
        fa = self._open.pop(key, None)
        if fa is not None:
            fa.close()

    def __len__(self) -> int:
        self._check_pid()
        return len(self._open)


OPEN_FASTAS = _OpenFastas(int(os.environ.get("GENOMAMBA_MAX_OPEN_FASTA", "128")))


class GenomeFile:
    """A validated FASTA file with a genome label; picklable, re-opens pyfaidx per process.

    The open handle lives in a bounded per-process pool (:data:`OPEN_FASTAS`), so any number of
    ``GenomeFile`` objects keep a bounded number of files open.

    Args:
        path: FASTA path (plain or BGZF).
        label: integer class label of the genome (species index for classification).
        name: display name of the genome (default: the file name without FASTA suffixes).
        cache: see :func:`open_fasta`.

    Attributes:
        lengths: ``{record name: length}`` in file order.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        label: int = 0,
        name: str | None = None,
        cache: Path | None = None,
    ):
        fa, idx = open_fasta(path, cache=cache)
        self.path = Path(fa.filename)
        self.label = int(label)
        self.name = name or _stem(self.path)
        self.index_paths = idx
        self.lengths: dict[str, int] = {k: int(v.rlen) for k, v in fa.index.items()}
        self.contigs = ContigNames(self.lengths, source=str(self.path))
        OPEN_FASTAS.put(self._key, fa)

    @property
    def _key(self) -> tuple[str, str]:
        return (str(self.path), str(self.index_paths.fai))

    def _handle(self) -> pyfaidx.Faidx:
        # index already validated and built: re-opening only reads it
        return OPEN_FASTAS.get(self._key, lambda: _faidx(self.path, self.index_paths))

    def resolve(self, contig: str, where: str = "") -> str:
        """The record name ``contig`` refers to: itself, or a record it is an unambiguous
        accession alias of (``NC_008253.1`` for ``gi|110640213|ref|NC_008253.1|``).

        Raises:
            ContigError: unknown or ambiguous name (a :class:`WindowError`).
        """
        return self.contigs.resolve(contig, where)

    def length(self, contig: str) -> int:
        """Length of the record ``contig`` names (aliases accepted, see :meth:`resolve`)."""
        return self.lengths[self.resolve(contig)]

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Sequence of ``contig[start:end]`` (0-based, half-open), case preserved; ``contig`` may
        be an accession alias (see :meth:`resolve`).

        Raises:
            WindowError: unknown contig or coordinates outside it.
        """
        if contig not in self.lengths:
            contig = self.resolve(contig)
        n = self.lengths[contig]
        if not 0 <= start < end <= n:
            raise WindowError(
                f"{self.path}:{contig}: window [{start}, {end}) is outside the record (length {n}); "
                "use 0 <= start < end <= length (0-based, half-open)"
            )
        return self._handle().fetch(contig, start + 1, end)

    def close(self) -> None:
        """Close this file's handle in this process (the next fetch re-opens it)."""
        OPEN_FASTAS.close(self._key)

    @property
    def total_length(self) -> int:
        return sum(self.lengths.values())

    def __repr__(self) -> str:
        return f"GenomeFile({str(self.path)!r}, label={self.label}, records={len(self.lengths)}, bp={self.total_length})"


def _stem(p: Path) -> str:
    name = p.name
    for suffix in (".gz", ".bgz", ".fa", ".fasta", ".fna", ".fas"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


FastaSpec = str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | Mapping[str, Any]


def open_genomes(fasta: FastaSpec, *, cache: Path | None = None) -> tuple[list[GenomeFile], list[str]]:
    """Open one or several labelled genomes.

    Args:
        fasta: one path (one genome, label 0); a list of paths (one label per file, named by
            file stem); a mapping ``label name -> path or list of paths`` (several files, e.g.
            strains, may share a label); or a ``.tsv`` table with columns ``path``, ``species``
            (label) and optionally ``strain``, paths relative to the table.
        cache: see :func:`open_fasta`.

    Returns:
        ``(files, label_names)``; ``files[i].label`` indexes ``label_names``.
    """
    groups: dict[str, list[Path]] = {}
    if isinstance(fasta, str | os.PathLike) and str(fasta).endswith(".tsv"):
        groups = _read_species_table(Path(fasta))
    elif isinstance(fasta, str | os.PathLike):
        groups = {_stem(Path(fasta)): [Path(fasta)]}
    elif isinstance(fasta, Mapping):
        for label, paths in fasta.items():
            paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
            groups[str(label)] = [Path(x) for x in paths]
    else:
        for x in fasta:
            key = _stem(Path(x))
            if key in groups:
                raise FastaError(
                    f"{x}: given twice (or two files share the name {key!r}); use a mapping label -> paths"
                )
            groups[key] = [Path(x)]
    if not groups or any(not v for v in groups.values()):
        raise FastaError(f"no FASTA files given (fasta={fasta!r})")
    names = list(groups)
    files = [
        GenomeFile(p, label=i, name=_stem(p), cache=cache) for i, n in enumerate(names) for p in groups[n]
    ]
    return files, names


def _read_species_table(path: Path) -> dict[str, list[Path]]:
    if not path.exists():
        raise FastaError(f"species table not found: {path}")
    groups: dict[str, list[Path]] = {}
    lines = path.read_text().splitlines()
    header = lines[0].split("\t") if lines else []
    if "path" not in header or "species" not in header:
        raise FastaError(
            f"{path}:1: expected a tab-separated header with columns 'path' and 'species', got {header}"
        )
    ip, isp = header.index("path"), header.index("species")
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) <= max(ip, isp):
            raise FastaError(
                f"{path}:{lineno}: expected {len(header)} tab-separated columns, got {len(cols)}"
            )
        fp = Path(cols[ip])
        groups.setdefault(cols[isp], []).append(fp if fp.is_absolute() else path.parent / fp)
    return groups
