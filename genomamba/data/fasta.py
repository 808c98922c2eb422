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

import gzip
import hashlib
import logging
import os
import tempfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyfaidx

from genomamba.errors import FastaError, WindowError

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


def _dir_is_writable(directory: Path) -> bool:
    """True if files can be created in ``directory``.

    ``os.access`` alone is not enough: root ignores mode bits, yet immutable / read-only
    mounts still refuse writes. An anonymous ``TemporaryFile`` (``O_TMPFILE`` on Linux)
    probes for real without leaving a name behind.
    """
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError:
        return False
    return True


def _fresh(index: Path, fasta: Path) -> bool:
    return index.exists() and index.stat().st_mtime >= fasta.stat().st_mtime


def _index_paths(p: Path, is_bgzf: bool, cache: Path | None) -> IndexPaths:
    fai, gzi = Path(f"{p}.fai"), Path(f"{p}.gzi") if is_bgzf else None
    if _fresh(fai, p) and (gzi is None or _fresh(gzi, p)):
        return IndexPaths(fai, gzi, in_cache=False)
    if _dir_is_writable(p.parent):
        return IndexPaths(fai, gzi, in_cache=False)
    root = (cache or cache_dir()) / "fai" / hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:16]
    root.mkdir(parents=True, exist_ok=True)
    cfai, cgzi = root / fai.name, (root / gzi.name) if gzi else None
    if not (_fresh(cfai, p) and (cgzi is None or _fresh(cgzi, p))):
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
    except ValueError as err:
        if "Duplicate key" in str(err):
            name = str(err).split('"')[1] if '"' in str(err) else str(err)
            raise FastaError(
                f"{p}: duplicate record name {name!r} (names are the first word of each '>' line); "
                "rename or remove the duplicate record."
            ) from None
        raise


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
    try:
        fa = _faidx(p, idx)
    except OSError as err:
        if idx.in_cache or isinstance(err, FileNotFoundError):
            raise FastaError(f"{p}: cannot build or read its index at {idx.fai}: {err}") from None
        # The writability probe passed but the write failed (e.g. a quota): fall back to the cache.
        idx = _index_paths_in_cache(p, is_bgzf, cache)
        log.warning("%s: writing the index next to it failed (%s); using %s", p, err, idx.fai)
        fa = _faidx(p, idx)
    empty = [name for name, rec in fa.index.items() if rec.rlen == 0]
    if empty:
        fa.close()
        raise FastaError(f"{p}: record {empty[0]!r} has no sequence; remove the empty record(s) {empty[:5]}.")
    return fa, idx


def _index_paths_in_cache(p: Path, is_bgzf: bool, cache: Path | None) -> IndexPaths:
    root = (cache or cache_dir()) / "fai" / hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:16]
    root.mkdir(parents=True, exist_ok=True)
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
        OPEN_FASTAS.put(self._key, fa)

    @property
    def _key(self) -> tuple[str, str]:
        return (str(self.path), str(self.index_paths.fai))

    def _handle(self) -> pyfaidx.Faidx:
        # index already validated and built: re-opening only reads it
        return OPEN_FASTAS.get(self._key, lambda: _faidx(self.path, self.index_paths))

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Sequence of ``contig[start:end]`` (0-based, half-open), case preserved.

        Raises:
            WindowError: unknown contig or coordinates outside it.
        """
        n = self.lengths.get(contig)
        if n is None:
            raise WindowError(
                f"{self.path}: no record named {contig!r}; available: {list(self.lengths)[:10]}"
            )
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
