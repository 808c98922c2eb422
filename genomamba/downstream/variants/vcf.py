"""Reading VCF files into :class:`Variant` records and checking them against the reference.

One :class:`Variant` per (record, ALT) pair. A malformed VCF line aborts reading with a
:class:`~genomamba.errors.VCFError` naming the file, record and line: htslib cannot resume
after a parse error, and a partially read file would be silently incomplete. Validation
(:func:`validate_variants`) never drops a variant: it sets ``status`` to ``ok`` or to why the
variant cannot be scored (``ref_mismatch``, ``unknown_contig``, ``out_of_bounds``,
``unsupported``), with a ``message``.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genomamba.data.fasta import GenomeFile, is_bgzf_file
from genomamba.errors import ContigError, VCFError

__all__ = ["MAX_ALLELE_LEN", "Variant", "read_vcf", "validate_variants"]

MAX_ALLELE_LEN = 50  # longer REF/ALT alleles are "beyond short indels": reported unsupported
_ACGT = frozenset("ACGT")


@dataclass
class Variant:
    """One (record, ALT) pair of a VCF.

    Attributes:
        chrom, pos: contig and 1-based position of the first REF base (VCF convention).
        ref, alt: alleles, upper-cased; ``alt`` may be symbolic (``<DEL>``), ``*`` or ``.``.
        id: the record's ID column (``.`` when absent).
        record: 1-based record number in the file; ``line``: its 1-based line number.
        status, message: filled by validation (``ok`` when the pair can be scored).
    """

    chrom: str
    pos: int
    ref: str
    alt: str
    id: str = "."
    record: int = 0
    line: int = 0
    status: str = "ok"
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def start(self) -> int:
        """0-based start of the REF allele."""
        return self.pos - 1

    @property
    def is_snv(self) -> bool:
        return len(self.ref) == 1 and len(self.alt) == 1


# -- VCF reading ---------------------------------------------------------------------------
def _read_text_lines(path: Path) -> list[str]:
    """All lines of a plain, gzip or BGZF text file (only used to explain a parse error)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rt", errors="replace") as fh:  # type: ignore[operator]
        return fh.read().splitlines()


def _count_header_lines(path: Path) -> int:
    """Number of leading '#' lines (plain, gzip or BGZF), read only as far as the first record."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    n = 0
    try:
        with opener(path, "rt", errors="replace") as fh:  # type: ignore[operator]
            for text in fh:
                if not text.startswith("#"):
                    break
                n += 1
    except (OSError, EOFError):
        pass  # htslib already parsed the header; line numbers are then best effort
    return n


def _explain_bad_line(path: Path, record_no: int) -> tuple[int, str]:
    """(line number, diagnosis) of the ``record_no``-th (1-based) data line of ``path``."""
    try:
        lines = _read_text_lines(path)
    except OSError:
        return 0, "the file could not be re-read to locate the line"
    seen = 0
    for i, text in enumerate(lines, start=1):
        if text.startswith("#") or not text.strip():
            continue
        seen += 1
        if seen != record_no:
            continue
        cols = text.split("\t")
        shown = text if len(text) <= 80 else text[:77] + "..."
        if len(cols) < 8:
            why = f"{len(cols)} tab-separated columns, a VCF record needs at least 8 (CHROM POS ID REF ALT QUAL FILTER INFO)"
        elif not cols[1].isdigit():
            why = f"POS {cols[1]!r} is not a positive integer"
        elif not cols[3] or not cols[4]:
            why = "empty REF or ALT column"
        else:
            why = "htslib could not parse it (see its [E::vcf_parse] message above)"
        return i, f"{why}: {shown!r}"
    return 0, "the line could not be located (truncated or corrupt compressed file?)"


def read_vcf(path: str | os.PathLike[str], info_keys: Sequence[str] = ()) -> list[Variant]:
    """Read a plain or bgzipped VCF with ``pysam.VariantFile``: one :class:`Variant` per ALT.

    ``info_keys``: INFO fields to keep, per variant, in ``Variant.extra["info"]`` (absent keys
    are left out).

    A record without ALT (``.``) yields one row with ``alt="."``, later reported unsupported.

    Raises:
        VCFError: the file is missing, is not a VCF, or has a malformed line (the message
            names the file, the record number and the line number, and the fix).
    """
    import pysam

    p = Path(path)
    if p.is_dir():
        raise VCFError(f"{p} is a directory, not a VCF file; give the path of the .vcf/.vcf.gz file inside it")
    if not p.is_file():
        raise VCFError(f"{p}: VCF file not found; pass an existing .vcf or .vcf.gz")
    with open(p, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b" and not is_bgzf_file(p):
        raise VCFError(
            f"{p} is plain gzip, but a compressed VCF must be block-gzipped (BGZF): "
            f"`gunzip -c {p} | bgzip > {str(p).removesuffix('.gz')}.bgz.gz`, or decompress it with gunzip"
        )
    try:
        vf = pysam.VariantFile(str(p))
    except (OSError, ValueError, NotImplementedError) as e:
        raise VCFError(
            f"{p}: not a readable VCF ({e}); it needs a '##fileformat=VCFv4.x' line and a tab-separated "
            "'#CHROM POS ID REF ALT QUAL FILTER INFO' header (compress with bgzip, not plain gzip)"
        ) from None
    # pysam's header text adds lines (e.g. FILTER=PASS), so count the file's own header lines
    n_header = _count_header_lines(p)
    out: list[Variant] = []
    record_no = 0
    try:
        it = iter(vf)
        while True:
            try:
                rec = next(it)
            except StopIteration:
                break
            except (OSError, ValueError, NotImplementedError) as e:
                line, why = _explain_bad_line(p, record_no + 1)
                where = f"line {line}" if line else f"after line {n_header + record_no}"
                raise VCFError(
                    f"{p}: malformed record {record_no + 1} ({where}): {why}. htslib: {e}. "
                    "Fix or remove that line (e.g. validate with `bcftools view`); reading stopped there "
                    "because htslib cannot resume after a parse error."
                ) from None
            record_no += 1
            alts = rec.alts or (".",)
            ref = (rec.ref or "").upper()
            for alt in alts:
                out.append(
                    Variant(
                        chrom=rec.chrom,
                        pos=int(rec.pos),
                        ref=ref,
                        alt=str(alt) if str(alt).startswith("<") or "[" in str(alt) or "]" in str(alt) else str(alt).upper(),
                        id=rec.id or ".",
                        record=record_no,
                        line=n_header + record_no,
                        extra={"info": {k: rec.info[k] for k in info_keys if k in rec.info}} if info_keys else {},
                    )
                )
    finally:
        vf.close()
    return out


# -- validation ----------------------------------------------------------------------------
def _unsupported_reason(v: Variant, masked: bool) -> str | None:
    alt = v.alt
    if alt in (".", ""):
        return "no ALT allele ('.'): nothing to score"
    if alt == "*":
        return "'*' (allele missing due to an upstream deletion) is not a sequence"
    if alt.startswith("<") or "[" in alt or "]" in alt:
        return f"symbolic/structural ALT {alt!r} has no explicit sequence; only explicit short alleles are scored"
    if not set(v.ref) <= _ACGT or not set(alt) <= _ACGT:
        return f"REF/ALT contain bases other than A/C/G/T ({v.ref}>{alt}); ambiguous alleles are not scored"
    if len(v.ref) > MAX_ALLELE_LEN or len(alt) > MAX_ALLELE_LEN:
        return f"allele longer than {MAX_ALLELE_LEN} bp (REF {len(v.ref)}, ALT {len(alt)}): beyond short indels"
    if v.ref == alt:
        return "ALT equals REF"
    if masked and not v.is_snv:
        return (
            "masked/bidirectional models use the GPN masked-logit score, defined for single-base "
            "substitutions only; score indels/MNVs with a causal model"
        )
    return None


def validate_variants(variants: Iterable[Variant], genome: GenomeFile, *, masked: bool) -> list[Variant]:
    """Set ``status``/``message`` of each variant against the reference; returns the same objects."""
    out = list(variants)
    for v in out:
        v.status, v.message = "ok", ""
        try:
            record = genome.contigs.get(v.chrom)  # the record, also when CHROM is its accession
        except ContigError as e:
            raise VCFError(f"record {v.record} (line {v.line}): {e}") from None
        n = None if record is None else genome.lengths[record]
        if n is None:
            v.status = "unknown_contig"
            v.message = f"CHROM {v.chrom!r} is not in {genome.path.name} (contigs: {list(genome.lengths)[:5]}); rename it to match the FASTA"
            continue
        reason = _unsupported_reason(v, masked)
        if reason is None and not masked and v.start == 0:
            reason = "a causal model has no upstream context for a variant at the first base of the contig"
        if v.ref == "" or v.start < 0 or v.start + len(v.ref) > n:
            v.status = "out_of_bounds"
            v.message = f"{v.chrom}:{v.pos} REF {v.ref!r} lies outside the contig (length {n})"
            continue
        if set(v.ref) <= _ACGT | {"N"} and len(v.ref) <= 10_000:
            fa_ref = genome.fetch(v.chrom, v.start, v.start + len(v.ref)).upper()
            if fa_ref != v.ref:
                v.status = "ref_mismatch"
                v.message = (
                    f"record {v.record} (line {v.line}): REF {v.ref!r} but {genome.path.name} has {fa_ref!r} at "
                    f"{v.chrom}:{v.pos}; check the reference build / left-normalise the VCF (bcftools norm -f)"
                )
                continue
        if reason is not None:
            v.status, v.message = "unsupported", reason
    return out
