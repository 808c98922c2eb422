"""Validated, lazily opened, random-access FASTA genomes (pyfaidx).

:func:`open_fasta` checks a file before pyfaidx sees it and turns every way it can be
unusable into a :class:`~genomamba.errors.FastaError` that names the file and the fix:
missing, empty, not FASTA (VCF, text, binary), plain gzip (not BGZF), duplicate record
names, inconsistent line lengths, empty records. The checks of the file itself live in
:mod:`genomamba.data.fasta_format` (:func:`validate_fasta`; plain gzip is refused there with
the one-line ``bgzip`` conversion), those of an existing index in :mod:`genomamba.data.fai`.

**Index location.** The ``.fai`` (and ``.gzi`` for BGZF) index is used from next to the FASTA
when present and up to date, and built there when that directory is writable. When it is
not (a read-only data directory, a shared reference), the index is built in the cache
directory ``$GENOMAMBA_CACHE`` (default ``~/.cache/genomamba``) under ``fai/<hash of the
absolute path>/`` and a warning says so; nothing is ever written next to the user's FASTA
in that case.

:class:`GenomeFile` is the picklable handle used by datasets: it records contig lengths and
index paths once, and re-opens pyfaidx lazily in each process (pyfaidx file handles and
locks must not be shared across a ``fork``); the open handles live in the bounded pool
:data:`~genomamba.data.fasta_handles.OPEN_FASTAS`. :func:`open_genomes` opens several
labelled genomes, e.g. from a species table (:mod:`genomamba.data.species_table`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyfaidx

from genomamba.data.compression import TRUNCATED_FIX
from genomamba.data.contigs import ContigNames
from genomamba.data.fai import index_mismatch
from genomamba.data.fasta_format import diagnose_fasta, is_bgzf_file, sequence_is_clean, validate_fasta
from genomamba.data.fasta_handles import OPEN_FASTAS
from genomamba.data.species_table import read_species_table
from genomamba.errors import FastaError, WindowError
from genomamba.outputs import writable_dir

# OPEN_FASTAS, is_bgzf_file and validate_fasta live in the modules above; they are re-exported
# here because callers have always imported them from genomamba.data.fasta.
__all__ = [
    "OPEN_FASTAS",
    "FastaSpec",
    "GenomeFile",
    "IndexPaths",
    "cache_dir",
    "is_bgzf_file",
    "open_fasta",
    "open_genomes",
    "validate_fasta",
]

log = logging.getLogger(__name__)


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


def _fresh(index: Path, fasta: Path) -> bool:
    return index.exists() and index.stat().st_mtime >= fasta.stat().st_mtime


def _index_problem(p: Path, is_bgzf: bool, fai: Path, gzi: Path | None) -> str | None:
    """None when the index can be used as it is; else why it must be (re)built."""
    if not fai.exists() or (gzi is not None and not gzi.exists()):
        return "missing"
    if not (_fresh(fai, p) and (gzi is None or _fresh(gzi, p))):
        return "older than the FASTA"
    return index_mismatch(p, is_bgzf, fai, gzi)


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
    is_bgzf = idx.gzi is not None
    try:
        return pyfaidx.Faidx(str(p), **kwargs)
    except pyfaidx.FastaIndexingError as err:
        raise FastaError(diagnose_fasta(p, is_bgzf) or (
            f"{p}: cannot be indexed: {err}. Every record's lines must have one length except the last "
            "(reformat it, e.g. `seqkit seq -w 60` or `samtools faidx`)."
        )) from None
    except pyfaidx.UnsupportedCompressionFormat as err:
        raise FastaError(f"{p}: {err}") from None
    except (zlib.error, struct.error, EOFError) as err:  # BGZF blocks damaged after the checks passed
        raise FastaError(f"{p}: the compressed data is damaged ({err or type(err).__name__}): a corrupt or "
                         f"{TRUNCATED_FIX}") from None
    except RuntimeError as err:
        if is_bgzf and ("CRC" in str(err) or "Decompressed to" in str(err)):  # Bio.bgzf on a damaged block
            raise FastaError(f"{p}: the compressed data is damaged ({err}): a corrupt or {TRUNCATED_FIX}") from None
        # pyfaidx: "Unhandled exception during fasta indexing" (blank lines)
        raise FastaError(diagnose_fasta(p, is_bgzf) or (
            f"{p}: cannot be indexed ({str(err).split('Please report')[0].strip()}): a record has blank or "
            "inconsistent lines; reformat it (e.g. `seqkit seq -w 60`)"
        )) from None
    except UnicodeDecodeError as err:
        raise FastaError(diagnose_fasta(p, is_bgzf) or (
            f"{p}: contains bytes that are not text ({err.reason} at byte {err.start} of a line); "
            "a FASTA file holds ASCII '>name' lines and sequence lines"
        )) from None
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
    except OSError as err:
        if err.errno is not None:
            raise  # the index could not be written: open_fasta falls back to the cache
        # pyfaidx's own complaints about the file (no errno), e.g. "BGZF EOF marker not found"
        raise FastaError(f"{p}: cannot be indexed ({err}): a corrupt or {TRUNCATED_FIX}") from None


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
        try:
            fa = _build_index(p, idx)
        except OSError as err:
            if idx.in_cache or isinstance(err, FileNotFoundError):
                raise FastaError(f"{p}: cannot build or read its index at {idx.fai}: {err}") from None
            # The writability probe passed but the write failed (e.g. a quota): fall back to the cache.
            idx = _index_paths_in_cache(p, is_bgzf, cache)
            log.warning("%s: writing the index next to it failed (%s); using %s", p, err, idx.fai)
            fa = _build_index(p, idx)
    except (FastaError, OSError):
        if idx.in_cache:  # a cache folder made for an index that was never written goes too
            with contextlib.suppress(OSError):
                idx.fai.parent.rmdir()
        raise
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
        if index_mismatch(p, idx.gzi is not None, tmp.fai, tmp.gzi, every_record=True) is not None:
            fa.close()
            raise FastaError(diagnose_fasta(p, idx.gzi is not None) or (
                f"{p}: cannot be indexed: the lines of a record differ in length or in line ending (mixed \\n and "
                "\\r\\n); reformat it with one line width and one kind of line ending (e.g. `seqkit seq -w 60`)"
            ))
        # pyfaidx indexes any byte as a base: a space, a digit or a gap would be read as one.
        if not sequence_is_clean(p, idx.gzi is not None, [(r.offset, r.bend) for r in fa.index.values()]):
            fa.close()
            raise FastaError(diagnose_fasta(p, idx.gzi is not None) or (
                f"{p}: a record holds characters that are not bases; sequence lines hold only A, C, G, T, N "
                "and IUPAC codes"
            ))
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
        for row in read_species_table(fasta):
            groups.setdefault(row.species, []).append(row.path)
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

