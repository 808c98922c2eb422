"""Is a compressed input whole? BGZF and gzip checks shared by every reader (FASTA, VCF, tracks).

An interrupted download is the usual way a genome or a VCF ends up damaged, and the readers
below genomamba fail on one in unhelpful ways (``struct.error`` from Biopython's BGZF reader,
``BGZF EOF marker not found`` from pyfaidx, ``[E::bgzf_read]`` from htslib). The checks here
run before any index is built, read only the file's ends for BGZF, and say in one line what is
wrong and how to fix it:

* BGZF (``bgzip``) files end with a fixed 28-byte empty block, the end-of-file marker (SAM
  specification, section 4.1.2). Without it the file was cut: in the middle of a block (the
  last block's header promises more bytes than are there) or at a block boundary.
* A plain gzip file has no marker: it is whole when it decompresses to its end, which only a
  full read can tell. Plain gzip is refused by the readers anyway; the full read happens on that
  error path only, so that a truncated download is not told to convert itself with ``bgzip``.

Nothing here imports torch or pysam, so the workflows call it while parsing their config.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

__all__ = ["BGZF_EOF", "TRUNCATED_FIX", "bgzf_problem", "gzip_problem", "is_bgzf", "is_bgzf_file", "is_gzip"]

GZIP_MAGIC = b"\x1f\x8b"
#: The empty block every BGZF file ends with (SAM specification, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
#: The fix named by every "this compressed file is incomplete" message.
TRUNCATED_FIX = "truncated or incomplete download; download it again or re-compress with bgzip"


def is_gzip(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts a gzip member (BGZF included)."""
    return head[:2] == GZIP_MAGIC


def _bgzf_block_size(header: bytes) -> int | None:
    """Total size of the BGZF block whose first bytes are ``header`` (from its ``BC`` extra
    subfield), or None when ``header`` is not the start of a BGZF block."""
    if len(header) < 18 or header[:2] != GZIP_MAGIC or not header[3] & 4:
        return None
    xlen = int.from_bytes(header[10:12], "little")
    extra = header[12 : 12 + xlen]
    i = 0
    while i + 4 <= len(extra):
        si1, si2, slen = extra[i], extra[i + 1], int.from_bytes(extra[i + 2 : i + 4], "little")
        if (si1, si2) == (66, 67) and slen == 2 and i + 6 <= len(extra):
            return int.from_bytes(extra[i + 4 : i + 6], "little") + 1
        i += 4 + slen
    return None


def is_bgzf(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts a BGZF block: a gzip member with FEXTRA
    set and a ``BC`` subfield (SAM specification, section 4.1)."""
    return _bgzf_block_size(head) is not None


def is_bgzf_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` starts with a BGZF block (False for plain gzip and uncompressed files)."""
    with open(path, "rb") as fh:
        return is_bgzf(fh.read(1024))


def bgzf_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the BGZF file ``path`` is incomplete (a one-line message naming it), or None.

    Reads the last 28 bytes; only when the end-of-file marker is missing does it walk the block
    headers (one small read per block) to tell a cut inside a block from one between blocks.
    """
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        fh.seek(max(0, size - len(BGZF_EOF)))
        if fh.read() == BGZF_EOF:
            return None
        where = "between two blocks"
        offset = 0
        while offset < size:
            fh.seek(offset)
            block = _bgzf_block_size(fh.read(1024))
            if block is None or offset + block > size:
                where = "in the middle of a block"
                break
            offset += block
    return f"{p}: the BGZF file ends {where}, without its end-of-file marker: {TRUNCATED_FIX}"


def gzip_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the gzip (or BGZF) file ``path`` does not decompress to its end, or None when it does.

    Reads the whole file: call it where that is worth it (a plain-gzip file about to be refused).
    """
    p = Path(path)
    try:
        with gzip.open(p, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except EOFError:
        return f"{p}: the gzip stream ends early: {TRUNCATED_FIX}"
    except (OSError, zlib.error) as err:
        return f"{p}: the compressed data is damaged ({err}): a corrupt or {TRUNCATED_FIX}"
    return None
