"""Prodigal gene calls and the consequence of an SNV under the bacterial genetic code.

Genes are called with pyrodigal (Larralde 2022, JOSS 7:4296; a binding of Prodigal, Hyatt et
al. 2010, BMC Bioinformatics 11:119). Consequences follow NCBI translation table 11 (Biopython's
``CodonTable.unambiguous_dna_by_id[11]``), read on the gene's coding strand; the classes are
described in :mod:`genomamba.downstream.genes.benchmark`, which draws the benchmark from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.errors import ConfigError

__all__ = [
    "BASES",
    "COMPLEMENT_CODES",
    "CODING_CLASSES",
    "Gene",
    "call_genes",
    "classify_snv",
    "codon_code",
    "codon_counts",
    "coding_base_codes",
    "encode_bases",
    "genome_codes",
    "snv_candidates",
    "snv_coding_sequences",
    "translate",
]

CODING_CLASSES = ("synonymous", "missense", "nonsense")

BASES = "ACGT"  # base codes 0..3, in the order of the codon codes
COMPLEMENT_CODES = np.array([3, 2, 1, 0], dtype=np.int64)  # A<->T, C<->G on 0..3 codes
_MIN_TRAIN_BP = 100_000  # Prodigal wants this much sequence to train single-genome mode


def _codon_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Table 11 as arrays over codon codes ``16*b1 + 4*b2 + b3`` (A,C,G,T = 0..3):
    amino acid letters (``*`` for stops), is-start and is-stop, each (64,)."""
    from Bio.Data import CodonTable

    table = CodonTable.unambiguous_dna_by_id[11]
    aa = np.empty(64, dtype="<U1")
    start = np.zeros(64, dtype=bool)
    stop = np.zeros(64, dtype=bool)
    for code in range(64):
        codon = BASES[code // 16] + BASES[(code // 4) % 4] + BASES[code % 4]
        aa[code] = "*" if codon in table.stop_codons else table.forward_table[codon]
        stop[code] = codon in table.stop_codons
        start[code] = codon in table.start_codons
    return aa, start, stop


_AA, _IS_START, _IS_STOP = _codon_tables()


@dataclass(frozen=True)
class Gene:
    """One called gene: ``chrom[start:end]`` (0-based, half-open, stop codon included) on
    ``strand`` +1 or -1; ``partial`` when Prodigal ran it off a record end."""

    id: str
    chrom: str
    start: int
    end: int
    strand: int
    partial: bool = False

    @property
    def n_codons(self) -> int:
        return (self.end - self.start) // 3

    def genomic_position(self, coding_index: np.ndarray) -> np.ndarray:
        """0-based genomic position of each 0-based index along the coding sequence."""
        return self.start + coding_index if self.strand > 0 else self.end - 1 - coding_index


def encode_bases(seq: str) -> np.ndarray:
    """A,C,G,T -> 0..3, anything else -> 4: (n,) int64."""
    lut = np.full(256, 4, dtype=np.int64)
    for i, b in enumerate(BASES):
        lut[ord(b)] = lut[ord(b.lower())] = i
    return lut[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


def genome_codes(genome: GenomeFile) -> dict[str, np.ndarray]:
    """Every record of ``genome`` as :func:`encode_bases` codes: record -> (n,) int64."""
    return {c: encode_bases(genome.fetch(c, 0, n).upper()) for c, n in genome.lengths.items()}


def call_genes(genome: GenomeFile, sequences: dict[str, str] | None = None, progress: bool = True) -> list[Gene]:
    """Prodigal gene calls on every record of ``genome`` (see the module docstring).

    Gene ids are ``<record>_<n>`` numbered along each record, as Prodigal names them. ``progress``:
    a progress bar over the records' bases (only when stderr is a terminal).
    """
    import pyrodigal

    from genomamba.progress import progress as progress_bar

    seqs = sequences if sequences is not None else {c: genome.fetch(c, 0, n).upper() for c, n in genome.lengths.items()}
    total = sum(len(s) for s in seqs.values())
    if total >= _MIN_TRAIN_BP:
        finder = pyrodigal.GeneFinder(meta=False)
        finder.train(*seqs.values(), translation_table=11)
    else:
        finder = pyrodigal.GeneFinder(meta=True)
    genes = []
    with progress_bar(total, f"calling genes in {genome.path.name}", "bp", progress) as advance:
        for chrom, seq in seqs.items():
            for i, g in enumerate(finder.find_genes(seq), start=1):
                genes.append(
                    Gene(f"{chrom}_{i}", chrom, int(g.begin) - 1, int(g.end), int(g.strand), bool(g.partial_begin or g.partial_end))
                )
            advance(len(seq))
    return genes


def coding_base_codes(gene: Gene, seq_ids: np.ndarray) -> np.ndarray:
    """(n,) coding-strand base codes of ``gene`` from its record's codes ``seq_ids``."""
    s = seq_ids[gene.start : gene.end]
    return s if gene.strand > 0 else np.where(s < 4, COMPLEMENT_CODES[np.minimum(s, 3)], 4)[::-1]


def codon_code(codon: str) -> int:
    """``16*b1 + 4*b2 + b3`` of a 3-letter ACGT codon (the index into the 64-codon tables)."""
    codes = encode_bases(codon)
    if len(codes) != 3 or (codes > 3).any():
        raise ConfigError(f"codon {codon!r} is not three of A, C, G, T")
    return int(codes @ [16, 4, 1])


def codon_counts(genes: list[Gene], seq_ids: dict[str, np.ndarray]) -> np.ndarray:
    """Codon usage: how often each of the 64 codons occurs in ``genes`` (every codon, start and
    stop included; codons with a non-ACGT base are skipped). ``seq_ids``: record -> (n,) codes.

    Returns:
        int64 (64,) indexed by :func:`codon_code`.
    """
    counts = np.zeros(64, dtype=np.int64)
    for g in genes:
        cds = coding_base_codes(g, seq_ids[g.chrom])
        codons = cds[: 3 * (len(cds) // 3)].reshape(-1, 3)
        codons = codons[(codons < 4).all(1)]
        counts += np.bincount(codons @ np.array([16, 4, 1]), minlength=64)
    return counts


def _consequence(codon_index: int, n_codons: int, ref_code: int, alt_code: int) -> str:
    if codon_index == 0:
        return "start_retained" if _IS_START[alt_code] else "start_lost"
    if codon_index == n_codons - 1:
        return "stop_retained" if _IS_STOP[alt_code] else "stop_lost"
    if _IS_STOP[alt_code]:
        return "nonsense"
    return "synonymous" if _AA[alt_code] == _AA[ref_code] else "missense"


def classify_snv(gene: Gene, seq_ids: np.ndarray | str, pos: int, alt: str, end_margin: int = 0) -> dict[str, Any]:
    """Consequence of the SNV ``pos`` (1-based, genomic) -> ``alt`` (genomic strand) in ``gene``.

    Args:
        seq_ids: the gene's record as a string or as 0..3 codes.
        end_margin: codons at either end (besides start / stop) whose changes get a
            ``*_near_end`` consequence (the sampler leaves them out).

    Returns:
        ``{"consequence", "codon_index" (1-based), "codon_position" (1..3), "ref_codon",
        "alt_codon", "ref_aa", "alt_aa"}``, codons and amino acids on the coding strand.
    """
    ids = encode_bases(seq_ids) if isinstance(seq_ids, str) else np.asarray(seq_ids)
    p0 = pos - 1
    if not gene.start <= p0 < gene.end:
        raise ConfigError(f"{gene.chrom}:{pos} is outside gene {gene.id} ({gene.start + 1}-{gene.end})")
    j = p0 - gene.start if gene.strand > 0 else gene.end - 1 - p0  # index along the coding sequence
    cds = coding_base_codes(gene, ids)
    ci, cp = j // 3, j % 3
    ref_c = cds[3 * ci : 3 * ci + 3].copy()
    if (ref_c > 3).any():
        raise ConfigError(f"gene {gene.id}: codon {ci + 1} holds a non-ACGT base")
    a = BASES.index(alt.upper())
    alt_c = ref_c.copy()
    alt_c[cp] = a if gene.strand > 0 else COMPLEMENT_CODES[a]
    rc, ac = int(ref_c @ [16, 4, 1]), int(alt_c @ [16, 4, 1])
    cons = _consequence(ci, gene.n_codons, rc, ac)
    if 0 < ci < gene.n_codons - 1 and (ci <= end_margin or ci >= gene.n_codons - 1 - end_margin):
        cons += "_near_end"  # within end_margin codons of the start or the stop codon
    return {
        "consequence": cons, "codon_index": ci + 1, "codon_position": cp + 1,
        "ref_codon": "".join(BASES[x] for x in ref_c), "alt_codon": "".join(BASES[x] for x in alt_c),
        "ref_aa": str(_AA[rc]), "alt_aa": str(_AA[ac]),
    }


def snv_candidates(gene: Gene, cds: np.ndarray, end_margin: int) -> dict[str, np.ndarray]:
    """Every SNV of ``gene`` by consequence class (see :func:`classify_snv` for the classes).

    Args:
        cds: the gene's coding-strand base codes (:func:`coding_base_codes`), A,C,G,T = 0..3.
        end_margin: interior codons start this many codons after the start codon and end as
            many before the stop codon; SNVs in the margins are left out.

    Returns:
        ``{class: int64 (n, 2)}`` rows of (0-based coding index, coding-strand ALT code).
    """
    nc = gene.n_codons
    codons = cds[: 3 * nc].reshape(nc, 3)
    ref_code = codons @ np.array([16, 4, 1])
    out: dict[str, list[np.ndarray]] = {}
    for cp in range(3):
        for shift in (1, 2, 3):
            alt_base = (codons[:, cp] + shift) % 4
            alt_codons = codons.copy()
            alt_codons[:, cp] = alt_base
            alt_code = alt_codons @ np.array([16, 4, 1])
            j = np.arange(nc) * 3 + cp
            cls = np.full(nc, "", dtype=object)
            interior = np.zeros(nc, dtype=bool)
            interior[end_margin + 1 : nc - 1 - end_margin] = True  # leave start/stop and the margins out
            cls[interior & _IS_STOP[alt_code]] = "nonsense"
            syn = interior & ~_IS_STOP[alt_code] & (_AA[alt_code] == _AA[ref_code])
            cls[syn] = "synonymous"
            cls[interior & ~_IS_STOP[alt_code] & ~syn] = "missense"
            cls[0] = "start_retained" if _IS_START[alt_code[0]] else "start_lost"
            cls[nc - 1] = "stop_retained" if _IS_STOP[alt_code[nc - 1]] else "stop_lost"
            for c in set(cls.tolist()) - {""}:
                sel = cls == c
                out.setdefault(c, []).append(np.stack([j[sel], alt_base[sel]], 1))
    return {c: np.concatenate(v) for c, v in out.items()}


def translate(cds: np.ndarray) -> str:
    """Protein of coding-strand base codes (A,C,G,T = 0..3) under table 11, up to its first stop
    codon or non-ACGT codon (the start codon reads as its amino acid, e.g. GTG as V)."""
    codons = np.asarray(cds)[: len(cds) // 3 * 3].reshape(-1, 3)
    protein = []
    for codon in codons:
        if (codon > 3).any() or _IS_STOP[int(codon @ [16, 4, 1])]:
            break
        protein.append(str(_AA[int(codon @ [16, 4, 1])]))
    return "".join(protein)


def snv_coding_sequences(
    labels: list[dict[str, Any]], genes: dict[str, Gene], seq_ids: dict[str, np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray, int] | None]:
    """Per gene-benchmark label row, ``(REF coding sequence, ALT coding sequence, 0-based coding
    index of the SNV)``, both (n,) coding-strand codes, or None for intergenic SNVs.

    Args:
        labels: rows of a ``*.labels.tsv`` (``gene_id``, 1-based ``codon_index`` and
            ``codon_position``, genomic-strand ``ref`` / ``alt``).
        genes: gene id -> :class:`Gene` (the calls the labels were made from); ``seq_ids``:
            record -> (n,) codes.

    Raises:
        ConfigError: a row's gene is not among ``genes`` or its REF is not the genome's base
            (labels made from another genome or other gene calls).
    """
    out: list[tuple[np.ndarray, np.ndarray, int] | None] = []
    complement = dict(zip(BASES, "TGCA", strict=True))
    for row in labels:
        if row["gene_id"] in (".", ""):
            out.append(None)
            continue
        gene = genes.get(row["gene_id"])
        if gene is None:
            raise ConfigError(f"variant {row.get('id', '?')}: gene {row['gene_id']} is not among the genome's gene "
                              "calls; make the benchmark from this genome with `genomamba make-variant-benchmark`")
        ref_cds = coding_base_codes(gene, seq_ids[gene.chrom])
        site = 3 * (int(row["codon_index"]) - 1) + int(row["codon_position"]) - 1
        ref, alt = (row["ref"], row["alt"]) if gene.strand > 0 else (complement[row["ref"]], complement[row["alt"]])
        if ref_cds[site] != BASES.index(ref):
            raise ConfigError(f"variant {row.get('id', '?')}: the labels say REF {row['ref']} at {row['chrom']}:"
                              f"{row['pos']} but the genome has another base; use the FASTA the benchmark was made from")
        alt_cds = ref_cds.copy()
        alt_cds[site] = BASES.index(alt)
        out.append((ref_cds, alt_cds, site))
    return out
