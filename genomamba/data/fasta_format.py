"""Is this file a FASTA genomamba can random-access? Checks made before pyfaidx sees it.

:func:`validate_fasta` turns every way a file can be unusable into a
:class:`~genomamba.errors.FastaError` naming the file and the fix: missing, a directory, empty,
not FASTA (VCF, FASTQ, GenBank, UTF-16 text, binary), compressed other than BGZF, a truncated
download (:mod:`genomamba.data.compression`). Duplicate names, ragged lines and empty records
are found while indexing (:mod:`genomamba.data.fasta`); :func:`fasta_text_problem` then names
the line at fault (an empty record name, a character that is not a base, old Mac line endings),
and :func:`sequence_is_clean` checks every base of a freshly indexed file in one fast pass.

**Compressed FASTA.** pyfaidx random-accesses only BGZF (``bgzip``) files. A plain-gzip
FASTA is *refused* with an error that gives the one-line conversion, rather than silently
decompressed: for a human genome that would be a 3 GB copy in a cache the user never asked
for. (``bgzip`` keeps the ``.gz`` suffix and stays readable by ``zcat``.)

Only the first 64 KiB (and, for BGZF, the last 28 bytes) are read, and nothing here imports
torch, so workflows call it while parsing their config.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from genomamba.data.compression import bgzf_problem, gzip_problem, is_bgzf, is_bgzf_file, is_gzip
from genomamba.errors import FastaError

__all__ = ["fasta_text_problem", "is_bgzf_file", "sequence_is_clean", "validate_fasta"]

_HEAD = 65536
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
# pyfaidx picks its BGZF reader by the file name, not by the bytes.
_BGZF_SUFFIXES = (".gz", ".bgz")
# What a sequence line may hold: the tokenizer's alphabet (A, C, G, T, N and the IUPAC codes,
# either case; genomamba.data.tokenizer) and a line ending.
_BASES = b"ACGTNRYSWKMBDHVacgtnryswkmbdhv"
_SEQUENCE_BYTES = _BASES + b"\r\n"
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CR_FIX = "convert with `tr '\\r' '\\n' < {p} > fixed.fa` (or `mac2unix`)"


def _decompressed_head(path: Path, n: int = _HEAD) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(n)
    except (OSError, EOFError, zlib.error) as err:
        raise FastaError(
            f"{path}: the compressed data cannot be read ({err}): a corrupt or truncated or incomplete download; "
            "download it again or re-compress with bgzip"
        ) from None


def _char_hint(c: int) -> str:
    """Why a byte that is not a base may be in a sequence line, and how to remove it."""
    strip = "remove them, e.g. `sed '/^>/!s/[^A-Za-z]//g' in.fa > fixed.fa`"
    if chr(c).isdigit() or c in b" \t":
        return f"numbered or spaced sequence lines (GenBank ORIGIN style?): {strip}"
    if c in b"-.":
        return "alignment gaps: remove them (`seqkit seq -g in.fa > fixed.fa`)"
    if c in b"Uu":
        return "RNA: write U as T (`sed '/^>/!y/Uu/Tt/' in.fa > fixed.fa`)"
    if chr(c).isalpha() or c == ord("*"):
        return "a protein FASTA? genomamba reads nucleotide sequences"
    if c == ord("\r"):
        return "a carriage return inside a line (old Mac line endings?): " + _CR_FIX.format(p="in.fa")
    return strip


def fasta_text_problem(p: Path, lines: Iterable[bytes]) -> str | None:
    """The first fault of a FASTA's lines (each with its ``\\n`` or ``\\r\\n`` ending, if any), as a
    message naming ``p``, the line and the fix; None when they are a well-formed FASTA.

    Faults: an empty record name, sequence before the first header, a character that is not a
    base (IUPAC), a blank line inside a record, a line longer than the record's first line or
    following a shorter one, mixed ``\\n`` / ``\\r\\n`` endings, old Mac (CR-only) line endings.
    Only complete lines must be passed (drop a partial last line of a file's head).
    """
    record: bytes | None = None
    width = eol = None
    short_at = blank_at = 0
    for lineno, line in enumerate(lines, start=1):
        ending = b"\r\n" if line.endswith(b"\r\n") else b"\n" if line.endswith(b"\n") else b""
        body = line[: len(line) - len(ending)]
        if b"\r" in body:
            return f"{p}: old Mac (CR-only) line endings at line {lineno}: " + _CR_FIX.format(p=p)
        if line.startswith(b">"):
            name = body[1:].split()[:1]
            if not name:
                return (f"{p}: empty record name at line {lineno}: every '>' line needs a name, e.g. '>chr1' "
                        "(the name is the first word after '>')")
            record, width, eol, short_at, blank_at = name[0], None, None, 0, 0
            continue
        if record is None and (not body.strip() or line.startswith(b";")):
            continue  # blank lines and old ';' comments before the first record
        if not body.strip():
            blank_at = blank_at or lineno
            continue
        where = f"line {lineno} (record {record.decode(errors='replace')!r})" if record else f"line {lineno}"
        if record is None:
            return f"{p}: sequence before the first '>' header at {where}; every record starts with a '>name' line"
        bad = body.translate(None, _BASES)
        if bad:
            c = bad[0]
            shown = repr(chr(c)) if c < 128 else f"byte 0x{c:02x} (not ASCII)"
            return (f"{p}: invalid character {shown} at {where}: {_char_hint(c)}; sequence lines hold only "
                    "A, C, G, T, N and IUPAC codes")
        if blank_at:
            return (f"{p}: blank line {blank_at} inside a record, before {where}; remove blank lines "
                    "(e.g. `seqkit seq -w 60 in.fa > fixed.fa`)")
        if ending and eol is not None and ending != eol:
            return (f"{p}: mixed \\n and \\r\\n line endings at {where}; use one kind "
                    "(e.g. `dos2unix` or `seqkit seq -w 60 in.fa > fixed.fa`)")
        eol = eol or ending or None
        if short_at or (width is not None and len(body) > width):
            first = f"line {short_at} is shorter than the record's first line" if short_at else (
                f"it is longer than the record's first line ({len(body)} > {width} bases)")
            return (f"{p}: lines of a record differ in length at {where}: {first}; every line of a record but the "
                    "last must have one length (reformat it, e.g. `seqkit seq -w 60 in.fa > fixed.fa`)")
        if width is None:
            width = len(body)
        elif len(body) < width:
            short_at = lineno
    return None


def _file_lines(p: Path, is_bgzf: bool) -> Iterator[bytes]:
    opener = gzip.open if is_bgzf else open
    with opener(p, "rb") as fh:  # type: ignore[operator]
        yield from fh


def diagnose_fasta(p: Path, is_bgzf: bool) -> str | None:
    """:func:`fasta_text_problem` over the whole file (read to its first fault): called when
    indexing failed, to name the line at fault. None when no line is at fault."""
    try:
        return fasta_text_problem(p, _file_lines(p, is_bgzf))
    except (OSError, EOFError, zlib.error):
        return None


def sequence_is_clean(p: Path, is_bgzf: bool, ranges: Sequence[tuple[int, int]]) -> bool:
    """True when the uncompressed byte ranges ``[start, end)`` (the records' sequence, from the
    index, in file order) hold only bases and line endings: one pass at C speed, made once when an
    index is built, so that a stray character is an error naming its line rather than a base."""
    opener = gzip.open if is_bgzf else open
    with opener(p, "rb") as fh:  # type: ignore[operator]
        pos = 0
        for start, end in ranges:
            if start < pos:
                return False
            fh.seek(start)
            pos = start
            while pos < end:
                chunk = fh.read(min(end - pos, 1 << 22))
                if not chunk:
                    return False
                if chunk.translate(None, _SEQUENCE_BYTES):
                    return False
                pos += len(chunk)
    return True


def _not_fasta(p: Path, head: bytes) -> str | None:
    """Why a file whose first line is not '>name' is not FASTA, naming what it is when known."""
    first = next((ln for ln in head.splitlines() if ln.strip() and not ln.startswith(b";")), b"")
    if first.startswith(b">"):
        return None
    shown = first[:60].decode("ascii", errors="replace")
    if first.startswith(b"@") and len(head.splitlines()) > 2 and head.splitlines()[2].startswith(b"+"):
        kind = "a FASTQ file (sequencing reads), not a genome FASTA; pass the assembly's FASTA"
    elif first.startswith(b"LOCUS"):
        kind = ("a GenBank file, not FASTA; convert it: `python -c \"from Bio import SeqIO; "
                "SeqIO.convert('in.gb', 'genbank', 'out.fa', 'fasta')\"`")
    elif first.startswith(b"##fileformat=VCF") or first.startswith(b"#CHROM"):
        kind = "a VCF, not FASTA; pass the reference genome's .fa/.fasta file"
    else:
        kind = ("not FASTA: a FASTA record starts with '>name'. Pass the genome's .fa/.fasta file "
                "(not a VCF/BED/text file)")
    return f"{p} does not look like FASTA: the first line is {shown!r}; it is {kind}"


def _head_lines(head: bytes, whole: bool) -> list[bytes]:
    lines = [line + b"\n" for line in head.split(b"\n")]
    lines[-1] = lines[-1][:-1]
    return lines if whole else lines[:-1]  # the last line of a partial head may be cut


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
    size = p.stat().st_size
    if size == 0:
        raise FastaError(f"FASTA file {p} is empty (0 bytes); re-download or regenerate it.")
    with open(p, "rb") as fh:
        head = fh.read(_HEAD)
    whole = size <= _HEAD
    is_bgzf_ = False
    if is_gzip(head):
        if not is_bgzf(head):
            stem = str(p)[: -len(".gz")] if str(p).endswith(".gz") else str(p)
            stem = stem[: -len(".fa")] if stem.endswith(".fa") else stem
            problem = gzip_problem(p)  # a truncated download is not told to convert itself
            if problem is not None:
                raise FastaError(problem)
            raise FastaError(
                f"{p} is plain gzip, but random access needs block-gzip (BGZF); "
                + _BGZIP_FIX.format(p=p, stem=stem)
                + ". Or decompress it with `gunzip`."
            )
        problem = bgzf_problem(p)
        if problem is not None:
            raise FastaError(problem)
        if not p.name.lower().endswith(_BGZF_SUFFIXES):
            raise FastaError(
                f"{p} is BGZF-compressed (bgzip) but its name does not end in .gz, which the FASTA reader needs "
                f"to read it as compressed; rename it, e.g. `mv {p} {p}.gz`"
            )
        is_bgzf_ = True
        head = _decompressed_head(p)
        whole = len(head) < _HEAD
    else:
        for magic, kind in _OTHER_COMPRESSION.items():
            if head.startswith(magic):
                raise FastaError(f"{p} is {kind}-compressed; decompress it and optionally `bgzip` it.")
        if p.name.lower().endswith(_BGZF_SUFFIXES):
            plain = p.name[: p.name.lower().rindex(".")]
            raise FastaError(
                f"{p} is not compressed, though its name ends in {p.suffix}, from which the FASTA reader expects BGZF; "
                f"rename it (`mv {p} {p.with_name(plain)}`) or compress it with `bgzip`"
            )
    if head.startswith(_UTF16_BOMS) or (len(head) > 1 and head[0] == ord(">") and head[1] == 0):
        raise FastaError(f"{p} is UTF-16 text, not ASCII; convert it: `iconv -f UTF-16 -t ASCII {p} > fixed.fa`")
    if head.startswith(_UTF8_BOM):
        raise FastaError(
            f"{p} starts with a UTF-8 byte-order mark (BOM, written by some editors); remove it: "
            f"`sed -i '1s/^\\xEF\\xBB\\xBF//' {p}`"
        )
    if not head.strip():
        raise FastaError(f"FASTA file {p} contains no sequence records (it is empty or blank).")
    if b"\x00" in head:
        raise FastaError(f"{p} is a binary file, not FASTA; expected text records starting with '>'.")
    if b"\r" in head and b"\n" not in head:
        raise FastaError(f"{p}: old Mac (CR-only) line endings: " + _CR_FIX.format(p=p))
    problem = _not_fasta(p, head) or fasta_text_problem(p, _head_lines(head, whole))
    if problem is not None:
        raise FastaError(problem)
    return p, is_bgzf_
