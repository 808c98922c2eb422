"""Is this file a FASTA genomamba can random-access? Checks made before pyfaidx sees it.

:func:`validate_fasta` turns every way a file can be unusable into a
:class:`~genomamba.errors.FastaError` naming the file and the fix: missing, a directory, empty,
not FASTA (VCF, text, binary), compressed other than BGZF. Duplicate names, ragged lines and
empty records are found while indexing (:mod:`genomamba.data.fasta`).

**Compressed FASTA.** pyfaidx random-accesses only BGZF (``bgzip``) files. A plain-gzip
FASTA is *refused* with an error that gives the one-line conversion, rather than silently
decompressed: for a human genome that would be a 3 GB copy in a cache the user never asked
for. (``bgzip`` keeps the ``.gz`` suffix and stays readable by ``zcat``.)

Only the first 64 KiB are read, and nothing here imports torch, so workflows call it while
parsing their config.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from genomamba.errors import FastaError

__all__ = ["is_bgzf_file", "validate_fasta"]

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
