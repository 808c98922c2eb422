"""A gene-based SNV benchmark: Prodigal gene calls + the bacterial genetic code, no hand labels.

``make_gene_benchmark`` (CLI: ``genomamba make-variant-benchmark``; genes and consequences in
:mod:`genomamba.downstream.genes.consequences`):

1. **Genes** are called with pyrodigal (Larralde 2022, JOSS 7:4296; a binding of Prodigal,
   Hyatt et al. 2010, BMC Bioinformatics 11:119) on the *whole* genome, single-genome mode
   (trained on all records together; metagenomic mode below 100 kb, as Prodigal advises). Only
   complete genes (no partial start or stop) lying entirely inside the benchmark region are
   used. Positions covered by two or more called genes (overlapping genes, complete or not)
   are skipped, so every coding SNV has one unambiguous consequence.
2. **Consequences** follow NCBI translation table 11 (bacterial; Biopython's
   ``CodonTable.unambiguous_dna_by_id[11]``), read on the gene's coding strand (the reverse
   complement for ``-`` strand genes):

   * interior codons (at least ``end_margin`` codons from the start and from the stop codon):
     ``synonymous`` (same amino acid), ``missense`` (another amino acid), ``nonsense`` (a stop);
   * the start codon: ``start_lost`` (ALT codon is not one of table 11's start codons) or
     ``start_retained``; the stop codon: ``stop_lost`` (ALT codon is not a stop) or
     ``stop_retained``;
   * ``intergenic``: positions inside the region that no called gene covers (a contrast: not
     neutral, since promoters and RNA genes live there, but not protein-coding).

3. **Sampling** (``numpy.random.default_rng(seed)``): first ``n_uniform_coding`` SNVs drawn
   uniformly from every interior (position, ALT) pair of the usable genes (the ``uniform``
   sample: the unbiased mix of codon positions and consequences used for the codon-position
   means), then ``n_per_class`` per class from the remaining pairs (``stratified`` sample:
   equal classes for the AUROCs). A class with fewer candidates gives all it has (reported).

Labels come from gene calls and the genetic code only. They are the textbook *expected*
consequence of each SNV, not a measured fitness effect: a "missense" change can be harmless
and a "synonymous" one can matter (codon usage, mRNA structure), and Prodigal's calls include
some false genes and wrong starts (its start accuracy is ~90% on genomes with validated starts).
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import Interval, merge, split_by_region
from genomamba.downstream.genes.consequences import (
    BASES,
    CODING_CLASSES,
    COMPLEMENT_CODES,
    call_genes,
    classify_snv,
    coding_base_codes,
    encode_bases,
    snv_candidates,
)
from genomamba.errors import ConfigError, FastaError
from genomamba.outputs import atomic_write_text

__all__ = [
    "HEADLINE_CLASSES",
    "REGION_HEADER",
    "TSV_COLUMNS",
    "complement_regions",
    "last_fraction_regions",
    "make_gene_benchmark",
    "parse_regions",
    "read_benchmark_labels",
    "read_benchmark_regions",
    "write_gene_benchmark",
]

HEADLINE_CLASSES = (*CODING_CLASSES, "start_lost", "stop_lost", "intergenic")
TSV_COLUMNS = (
    "id", "chrom", "pos", "ref", "alt", "consequence", "sample", "gene_id", "strand", "gene_start", "gene_end",
    "codon_index", "codon_position", "ref_codon", "alt_codon", "ref_aa", "alt_aa",
)
REGION_HEADER = "##genomamba_benchmark_region="


# -- regions -------------------------------------------------------------------------------
_REGION_RE = re.compile(r"^(?P<chrom>.+?)(?::(?P<start>[\d,]+)-(?P<end>[\d,]+))?$")


def parse_regions(specs: Sequence[str], lengths: dict[str, int], source: str = "--region") -> list[Interval]:
    """samtools-style regions (``chrom``, ``chrom:start-end``, 1-based inclusive) -> merged
    0-based half-open intervals.

    >>> parse_regions(["c:11-20", "c"], {"c": 100})
    [Interval(contig='c', start=0, end=100)]
    """
    out = []
    for spec in specs:
        if spec in lengths:  # a whole record (its name may itself contain ':' or '-')
            out.append(Interval(spec, 0, lengths[spec]))
            continue
        m = _REGION_RE.match(spec)
        if not m or m["start"] is None or m["chrom"] not in lengths:
            raise ConfigError(
                f"{source} {spec!r}: expected CHROM or CHROM:START-END (1-based, inclusive) with CHROM one of "
                f"{list(lengths)[:5]}"
            )
        s, e = int(m["start"].replace(",", "")), int(m["end"].replace(",", ""))
        if not 1 <= s <= e <= lengths[m["chrom"]]:
            raise ConfigError(f"{source} {spec!r}: need 1 <= START <= END <= {lengths[m['chrom']]} (the record length)")
        out.append(Interval(m["chrom"], s - 1, e))
    return merge(out)


def last_fraction_regions(lengths: dict[str, int], fraction: float) -> list[Interval]:
    """The last ``fraction`` of every record, cut exactly as training's held-out region
    (:func:`~genomamba.data.intervals.split_by_region` with ``val_fraction=fraction``)."""
    if not 0 < fraction < 1:
        raise ConfigError(f"--last-fraction must be in (0, 1), got {fraction}")
    return split_by_region(lengths, val_fraction=fraction, test_fraction=0.0)["val"]


def complement_regions(regions: Sequence[Interval], lengths: dict[str, int]) -> list[Interval]:
    """Every base of the genome outside ``regions`` (the Markov baselines' training split)."""
    out = []
    for chrom, n in lengths.items():
        cur = 0
        for r in sorted(x for x in regions if x.contig == chrom):
            if r.start > cur:
                out.append(Interval(chrom, cur, r.start))
            cur = max(cur, r.end)
        if cur < n:
            out.append(Interval(chrom, cur, n))
    return out


# -- the benchmark -------------------------------------------------------------------------
def make_gene_benchmark(
    fasta: str | os.PathLike[str] | GenomeFile,
    regions: Sequence[Interval] | None = None,
    n_per_class: int = 400,
    n_uniform_coding: int = 1200,
    seed: int = 0,
    end_margin: int = 20,
    classes: Sequence[str] = HEADLINE_CLASSES,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Draw the benchmark (see the module docstring).

    Args:
        regions: where SNVs may lie (genes entirely inside); default the whole genome.
        n_per_class: SNVs per class in ``classes`` (stratified sample).
        n_uniform_coding: SNVs drawn uniformly over interior coding (position, ALT) pairs.
        end_margin: interior codons start this many codons after the start codon and end as
            many before the stop codon.

    Returns:
        (rows sorted by record order, position and ALT, with :data:`TSV_COLUMNS` less ``id``;
        summary with gene and candidate counts per class).
    """
    genome = fasta if isinstance(fasta, GenomeFile) else GenomeFile(fasta)
    unknown = set(classes) - set(HEADLINE_CLASSES) - {"start_retained", "stop_retained"}
    if unknown:
        raise ConfigError(f"unknown consequence class(es) {sorted(unknown)}; choose from {HEADLINE_CLASSES}")
    if n_per_class < 0 or n_uniform_coding < 0 or end_margin < 0:
        raise ConfigError("n_per_class, n_uniform_coding and end_margin must be >= 0")
    regions = list(regions) if regions else [Interval(c, 0, n) for c, n in genome.lengths.items()]
    seqs = {c: genome.fetch(c, 0, n).upper() for c, n in genome.lengths.items()}
    ids = {c: encode_bases(s) for c, s in seqs.items()}
    genes = call_genes(genome, seqs)
    cover = {c: np.zeros(n + 1, dtype=np.int64) for c, n in genome.lengths.items()}
    for g in genes:  # difference array: number of called genes covering each base
        cover[g.chrom][g.start] += 1
        cover[g.chrom][g.end] -= 1
    cover = {c: np.cumsum(v)[:-1] for c, v in cover.items()}
    in_region = {c: np.zeros(n, dtype=bool) for c, n in genome.lengths.items()}
    for r in regions:
        in_region[r.contig][r.start : r.end] = True
    usable = [
        g for g in genes
        if not g.partial and in_region[g.chrom][g.start] and in_region[g.chrom][g.end - 1]
        and in_region[g.chrom][g.start : g.end].all() and (g.end - g.start) % 3 == 0
    ]
    # candidates: rows (gene index, coding index, coding-strand ALT code)
    pools: dict[str, list[np.ndarray]] = {}
    for gi, g in enumerate(usable):
        cds = coding_base_codes(g, ids[g.chrom])
        if (cds > 3).any():
            continue  # an N inside the gene: no reliable codons
        for cls, cand in snv_candidates(g, cds, end_margin).items():
            pos = g.genomic_position(cand[:, 0])
            keep = cover[g.chrom][pos] == 1  # not shared with another called gene
            pools.setdefault(cls, []).append(np.column_stack([np.full(int(keep.sum()), gi), cand[keep]]))
    pool = {c: (np.concatenate(v) if v else np.zeros((0, 3), np.int64)) for c, v in pools.items()}
    rng = np.random.default_rng(seed)
    picked: list[tuple[str, str, np.ndarray]] = []  # (class, sample, rows)
    coding = np.concatenate([pool.get(c, np.zeros((0, 3), np.int64)) for c in CODING_CLASSES])
    coding_cls = np.concatenate([np.full(len(pool.get(c, [])), c, dtype=object) for c in CODING_CLASSES])
    taken = np.zeros(len(coding), dtype=bool)
    if n_uniform_coding:
        k = min(n_uniform_coding, len(coding))
        sel = rng.choice(len(coding), size=k, replace=False) if k else np.zeros(0, np.int64)
        taken[sel] = True
        for c in CODING_CLASSES:
            picked.append((c, "uniform", coding[sel][coding_cls[sel] == c]))
    short: dict[str, int] = {}
    offsets = np.cumsum([0] + [len(pool.get(c, [])) for c in CODING_CLASSES])
    for c in classes:
        if c == "intergenic":
            continue
        cand = pool.get(c, np.zeros((0, 3), np.int64))
        if c in CODING_CLASSES:
            i = CODING_CLASSES.index(c)
            cand = cand[~taken[offsets[i] : offsets[i + 1]]]
        k = min(n_per_class, len(cand))
        if k < n_per_class:
            short[c] = int(len(cand))
        picked.append((c, "stratified", cand[rng.choice(len(cand), size=k, replace=False)] if k else cand[:0]))
    rows: list[dict[str, Any]] = []
    for cls, sample, arr in picked:
        for gi, j, alt_c in arr.tolist():
            g = usable[gi]
            p0 = int(g.genomic_position(np.array(j)))
            alt = BASES[alt_c] if g.strand > 0 else BASES[COMPLEMENT_CODES[alt_c]]
            info = classify_snv(g, ids[g.chrom], p0 + 1, alt, end_margin=end_margin)
            if info["consequence"] != cls:  # two independent derivations must agree
                raise AssertionError(f"internal error: {g.id} {p0 + 1}{alt}: {info['consequence']} != {cls}")
            rows.append({
                "chrom": g.chrom, "pos": p0 + 1, "ref": seqs[g.chrom][p0], "alt": alt, "consequence": cls, "sample": sample,
                "gene_id": g.id, "strand": "+" if g.strand > 0 else "-", "gene_start": g.start + 1, "gene_end": g.end,
                **{k: info[k] for k in ("codon_index", "codon_position", "ref_codon", "alt_codon", "ref_aa", "alt_aa")},
            })
    n_intergenic_cand = 0
    if "intergenic" in classes:
        chroms = list(genome.lengths)
        cand_pos = [np.flatnonzero(in_region[c] & (cover[c] == 0) & (ids[c] < 4)) for c in chroms]
        flat_chrom = np.concatenate([np.full(len(p), i) for i, p in enumerate(cand_pos)])
        flat_pos = np.concatenate(cand_pos)
        n_intergenic_cand = 3 * len(flat_pos)
        k = min(n_per_class, n_intergenic_cand)
        if k < n_per_class:
            short["intergenic"] = n_intergenic_cand
        for f in (rng.choice(n_intergenic_cand, size=k, replace=False) if k else []):
            c, p0 = chroms[int(flat_chrom[f // 3])], int(flat_pos[f // 3])
            ref_c = int(ids[c][p0])
            alt = BASES[(ref_c + 1 + int(f % 3)) % 4]
            rows.append({
                "chrom": c, "pos": p0 + 1, "ref": BASES[ref_c], "alt": alt, "consequence": "intergenic",
                "sample": "stratified", **dict.fromkeys(TSV_COLUMNS[7:], "."),
            })
    order = {c: i for i, c in enumerate(genome.lengths)}
    rows.sort(key=lambda r: (order[r["chrom"]], r["pos"], r["alt"]))
    summary = {
        "genes_called": len(genes), "genes_usable": len(usable),
        "candidates": {c: int(len(v)) for c, v in sorted(pool.items())} | {"intergenic": n_intergenic_cand},
        "drawn": {f"{c}/{s}": int(len(a)) for c, s, a in picked}
        | {"intergenic/stratified": sum(r["consequence"] == "intergenic" for r in rows)},
        "short_classes": short,
        "regions": [f"{r.contig}:{r.start + 1}-{r.end}" for r in regions],
    }
    return rows, summary


def write_gene_benchmark(
    rows: Sequence[dict[str, Any]], genome: GenomeFile, out_prefix: str | os.PathLike[str], regions: Sequence[str],
    source: str,
) -> tuple[Path, Path]:
    """Write ``<prefix>.vcf`` (VCF 4.2; INFO CSQ/GENE/STRAND/CODON_POS/SAMPLE; the regions in
    ``##genomamba_benchmark_region=`` lines) and ``<prefix>.labels.tsv`` (:data:`TSV_COLUMNS`)."""
    prefix = Path(out_prefix)
    if prefix.parent and not prefix.parent.is_dir():
        raise ConfigError(f"--out-prefix {out_prefix}: folder {prefix.parent} does not exist; create it first")
    vcf, tsv = prefix.with_name(prefix.name + ".vcf"), prefix.with_name(prefix.name + ".labels.tsv")
    lines = ["##fileformat=VCFv4.2", f"##source={source}", f"##reference={genome.path.name}"]
    lines += [f"{REGION_HEADER}{r}" for r in regions]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in genome.lengths.items()]
    lines += [
        '##INFO=<ID=CSQ,Number=1,Type=String,Description="Expected consequence under translation table 11 of Prodigal '
        'gene calls: synonymous, missense, nonsense, start_lost, stop_lost or intergenic">',
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Prodigal gene id (<record>_<n>)">',
        '##INFO=<ID=STRAND,Number=1,Type=String,Description="Strand of the gene">',
        '##INFO=<ID=CODON_POS,Number=1,Type=Integer,Description="Position (1-3) of the SNV in its codon">',
        '##INFO=<ID=SAMPLE,Number=1,Type=String,Description="uniform (all interior coding SNVs) or stratified (per class)">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    for i, r in enumerate(rows, start=1):
        info = f"CSQ={r['consequence']};SAMPLE={r['sample']}"
        if r["gene_id"] != ".":
            info += f";GENE={r['gene_id']};STRAND={r['strand']};CODON_POS={r['codon_position']}"
        lines.append(f"{r['chrom']}\t{r['pos']}\tv{i}\t{r['ref']}\t{r['alt']}\t.\t.\t{info}")
    tsv_lines = ["\t".join(TSV_COLUMNS)] + [
        "\t".join([f"v{i}", *(str(r[c]) for c in TSV_COLUMNS[1:])]) for i, r in enumerate(rows, start=1)
    ]
    # Temporary file + rename: an interrupted run never leaves a truncated VCF or table.
    atomic_write_text(vcf, "\n".join(lines) + "\n", option="--out-prefix")
    atomic_write_text(tsv, "\n".join(tsv_lines) + "\n", option="--out-prefix")
    return vcf, tsv


def read_benchmark_labels(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a ``*.labels.tsv`` written by :func:`write_gene_benchmark` (pos and codon_position as int,
    codon_position 0 for intergenic SNVs)."""
    p = Path(path)
    if not p.is_file():
        raise FastaError(f"benchmark labels {p} not found; make it with `genomamba make-variant-benchmark`")
    with open(p, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        missing = [c for c in TSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{p}: not a gene-benchmark labels TSV (missing columns {missing}); make it with "
                              "`genomamba make-variant-benchmark`")
        rows = list(reader)
    for r in rows:
        r["pos"] = int(r["pos"])
        r["codon_position"] = int(r["codon_position"]) if r["codon_position"] != "." else 0
    return rows


def read_benchmark_regions(vcf: str | os.PathLike[str]) -> list[str]:
    """The ``##genomamba_benchmark_region=`` lines of a benchmark VCF (plain or bgzipped)."""
    out = []
    with open(vcf, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    with (gzip.open(vcf, "rt", encoding="utf-8-sig") if gz else open(vcf, encoding="utf-8-sig")) as fh:
        for line in fh:
            if not line.startswith("##"):
                break
            if line.startswith(REGION_HEADER):
                out.append(line[len(REGION_HEADER) :].strip())
    return out
