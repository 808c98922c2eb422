"""In-silico saturation mutagenesis: every SNV of a region scored, with browser tracks and a picture.

:func:`saturation_mutagenesis` scores the three SNVs at every A/C/G/T base of a region with
:func:`~genomamba.downstream.variants.scoring.score_variants` (causal models: the ``tiled``
method with exact state reuse; masked models: the ``window`` method), a block of tiles at a
time. Each block's scores are kept in a scratch folder (:class:`PartialResults`), so an
interrupted run resumes where it stopped; a tiled score depends only on the SNV's position, so
blocks compute exactly what one call over the region would. :func:`write_outputs` writes the
tables, the per-base tracks and the heatmap, each file atomically (temporary file, rename).

Per-base summaries (one value per base, over its three ALTs; bedGraph and bigWig):

* ``llr_mean``: mean LLR, how much the model dislikes changing the base at all (negative = constrained);
* ``llr_min``: the most damaging ALT's LLR;
* ``influence_mean``: mean influence (causal models), how much a change there moves the next-base
  predictions around it;
* ``shift_mean``: mean hidden-state shift.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.downstream.variants.scoring import (
    OUTPUT_COLUMNS,
    is_masked_model,
    score_variants,
    write_scores_tsv,
)
from genomamba.downstream.variants.vcf import Variant, validate_variants
from genomamba.errors import ConfigError, ContigError
from genomamba.models import GenomambaLM
from genomamba.outputs import atomic_write_bytes, atomic_write_text, json_text, write_json

__all__ = [
    "SUMMARIES",
    "PartialResults",
    "Region",
    "parse_region",
    "per_base_summaries",
    "region_snvs",
    "saturation_mutagenesis",
    "write_outputs",
]

#: name -> (score column, reduction over the three ALTs of a base)
SUMMARIES = {
    "llr_mean": ("score", "mean"),
    "llr_min": ("score", "min"),
    "influence_mean": ("influence", "mean"),
    "shift_mean": ("shift", "mean"),
}
BASES = "ACGT"
_REGION = re.compile(r"^(?P<chrom>.+):(?P<start>[0-9][0-9,]*)-(?P<end>[0-9][0-9,]*)$")
SCORE_COLUMNS = ("score", "score_fwd", "score_rev", "shift", "influence")


@dataclass(frozen=True)
class Region:
    """A region of one record: ``chrom``, 0-based half-open ``[start, end)``."""

    chrom: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.chrom}:{self.start + 1}-{self.end}"  # 1-based inclusive, as samtools


def parse_region(text: str, genome: GenomeFile, option: str = "--region") -> Region:
    """``CHROM:START-END`` (1-based, inclusive, as samtools; commas allowed) -> :class:`Region`.

    Raises:
        ConfigError: malformed, empty, unknown record, past the record's end, or no A/C/G/T base.
    """
    m = _REGION.match(text.strip())
    if not m:
        raise ConfigError(f"{option} {text!r}: expected CHROM:START-END, 1-based inclusive (e.g. chr1:1001-2000)")
    start, end = (int(m.group(k).replace(",", "")) for k in ("start", "end"))
    try:
        chrom = genome.resolve(m.group("chrom"))
    except ContigError as e:
        raise ConfigError(f"{option} {text}: {e}") from None
    n = genome.length(chrom)
    if start < 1 or end < start:
        raise ConfigError(f"{option} {text}: START must be >= 1 and END >= START (1-based, inclusive)")
    if end > n:
        raise ConfigError(f"{option} {text}: END {end:,} is past the end of {chrom} ({n:,} bp); the last base is {n:,}")
    region = Region(chrom, start - 1, end)
    seq = genome.fetch(chrom, region.start, region.end).upper()
    if not any(b in BASES for b in seq):
        raise ConfigError(f"{option} {text}: the region has no sequence (no A/C/G/T base, e.g. all N); choose another")
    return region


def region_snvs(region: Region, genome: GenomeFile) -> list[Variant]:
    """The three SNVs at every A/C/G/T base of ``region``, in position order then A, C, G, T."""
    seq = genome.fetch(region.chrom, region.start, region.end).upper()
    out = []
    for i, ref in enumerate(seq):
        if ref in BASES:
            out.extend(Variant(region.chrom, region.start + i + 1, ref, alt) for alt in BASES if alt != ref)
    return out


class PartialResults:
    """Scores of finished blocks of a run, kept in ``folder`` as ``block_<first tile>.npz``.

    ``key`` (a dict naming everything the scores depend on) is written as ``key.json``; a folder
    left by a run with another key is emptied first, so only matching blocks are ever reused.
    """

    def __init__(self, folder: Path, key: dict[str, Any]) -> None:
        self.folder = folder
        text = json_text(key, indent=None, sort_keys=True)
        if folder.is_dir() and (not (folder / "key.json").is_file() or (folder / "key.json").read_text() != text):
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "key.json", text, option="scratch")

    def load(self, block: int) -> np.ndarray | None:
        p = self.folder / f"block_{block}.npz"
        if not p.is_file():
            return None
        try:
            with np.load(p) as f:
                return f["scores"]
        except (OSError, ValueError, KeyError):  # a damaged file (the rename is atomic, but disks fail)
            return None

    def save(self, block: int, scores: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, scores=scores)
        atomic_write_bytes(self.folder / f"block_{block}.npz", buf.getvalue(), option="scratch")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def run_key(model_id: str, genome: GenomeFile, region: Region, window: int, method: str, track: str | None) -> dict:
    """What a run's scores depend on (for :class:`PartialResults`)."""
    return {"model": model_id, "fasta": str(genome.path.resolve()), "region": str(region), "window": window,
            "method": method, "track": track}


def model_fingerprint(model: GenomambaLM) -> str:
    """A short hash of a model's weights and config: a resumed run must use the same model."""
    h = hashlib.sha256(model.config.to_json().encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes()[:4096])
    return h.hexdigest()[:16]


def saturation_mutagenesis(
    model: GenomambaLM, genome: GenomeFile, region: Region, window: int = 512, batch_size: int | None = None,
    track: GenomeFile | None = None, method: str = "auto", partial: PartialResults | None = None,
    progress: Callable[[int], None] | None = None, tiles_per_block: int = 8,
) -> list[dict[str, Any]]:
    """Score all three SNVs at every A/C/G/T base of ``region``: rows as
    :func:`~genomamba.downstream.variants.scoring.score_variants` returns them, in position
    order then ALT A, C, G, T (N and other non-ACGT bases have none).

    Args:
        batch_size: as in ``score_variants`` (None: 8 ALT runs on CPU, 64 on CUDA).
        partial: keep and reuse each block's scores there (resume).
        progress: called with the number of SNVs finished, as they finish (reused blocks at once).
        tiles_per_block: window-length tiles per block (one resumable unit).
    """
    snvs = region_snvs(region, genome)
    block_len = window * tiles_per_block
    blocks: dict[int, list[int]] = {}
    for i, v in enumerate(snvs):
        blocks.setdefault(v.start // block_len, []).append(i)
    scores = np.full((len(snvs), len(SCORE_COLUMNS)), np.nan)
    for block, members in blocks.items():
        got = partial.load(block) if partial is not None else None
        if got is None or got.shape != (len(members), len(SCORE_COLUMNS)):
            part = [Variant(snvs[i].chrom, snvs[i].pos, snvs[i].ref, snvs[i].alt) for i in members]
            rows = score_variants(model, genome, part, window=window, batch_size=batch_size, track=track, method=method,
                                  progress=progress)
            got = np.array([[r[c] for c in SCORE_COLUMNS] for r in rows], dtype=np.float64)
            if partial is not None:
                partial.save(block, got)
        elif progress is not None:
            progress(2 * len(members))  # as the scoring reports it: each SNV on both strands
        scores[members] = got
    # status and message as score_variants gives them (e.g. a contig's first base for a causal model)
    validate_variants(snvs, genome, masked=is_masked_model(model))
    rows = []
    for v, s in zip(snvs, scores, strict=True):
        row = {"chrom": v.chrom, "pos": v.pos, "id": ".", "ref": v.ref, "alt": v.alt, "status": v.status,
               "message": v.message, "record": 0}
        row.update({c: float(x) for c, x in zip(SCORE_COLUMNS, s, strict=True)})
        rows.append(row)
    return rows


def per_base_summaries(rows: Sequence[dict[str, Any]], region: Region) -> dict[str, np.ndarray]:
    """Each :data:`SUMMARIES` track over the region's bases: name -> ``(end - start,)`` float64,
    NaN where a base has no scored SNV (N, or the first base of a contig for a causal model)."""
    n = region.end - region.start
    out = {}
    for name, (column, how) in SUMMARIES.items():
        acc = np.full((n, 3), np.nan)
        fill = np.zeros(n, dtype=np.int64)
        for r in rows:
            i = r["pos"] - 1 - region.start
            acc[i, fill[i]] = r[column] if r["status"] == "ok" else np.nan
            fill[i] += 1
        with np.errstate(all="ignore"):
            ok = np.isfinite(acc).any(1)
            vals = np.full(n, np.nan)
            vals[ok] = (np.nanmean if how == "mean" else np.nanmin)(acc[ok], axis=1)
        out[name] = vals
    return out


def _bedgraph(region: Region, values: np.ndarray, name: str, description: str) -> str:
    lines = [f'track type=bedGraph name="{name}" description="{description}"']
    for i in np.flatnonzero(np.isfinite(values)):
        s = region.start + int(i)
        lines.append(f"{region.chrom}\t{s}\t{s + 1}\t{values[i]:.6g}")
    return "\n".join(lines) + "\n"


def _write_bigwig(path: Path, region: Region, contig_len: int, values: np.ndarray) -> None:
    """One span-1 entry per scored base, runs of scored bases as fixed-step blocks; atomic."""
    import pyBigWig

    tmp = path.with_name(f".{path.name}.tmp")
    bw = pyBigWig.open(str(tmp), "w")
    try:
        bw.addHeader([(region.chrom, int(contig_len))])
        ok = np.isfinite(values)
        i, n = 0, len(values)
        while i < n:
            if not ok[i]:
                i += 1
                continue
            j = i
            while j < n and ok[j]:
                j += 1
            bw.addEntries(region.chrom, region.start + i, values=values[i:j].astype(np.float64).tolist(), span=1, step=1)
            i = j
    finally:
        bw.close()
    os.replace(tmp, path)


def write_outputs(
    rows: Sequence[dict[str, Any]], region: Region, genome: GenomeFile, out_dir: Path, meta: dict[str, Any],
    genes: Sequence[Any] = (),
) -> list[Path]:
    """scores.tsv and scores.parquet, ``<summary>.bedGraph`` / ``.bw`` per :data:`SUMMARIES`,
    heatmap.png and run.json in ``out_dir``, each written atomically. Returns the paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [write_scores_tsv(rows, out_dir / "scores.tsv")]
    table = pa.table({c: [r[c] for r in rows] for c in OUTPUT_COLUMNS})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    paths.append(atomic_write_bytes(out_dir / "scores.parquet", buf.getvalue(), option="--out-dir"))
    summaries = per_base_summaries(rows, region)
    for name, values in summaries.items():
        column, how = SUMMARIES[name]
        desc = f"{how} over the 3 SNVs of each base of {column} ({meta.get('model', 'model')}, {meta.get('method', '')})"
        paths.append(atomic_write_text(out_dir / f"{name}.bedGraph", _bedgraph(region, values, name, desc),
                                       option="--out-dir"))
        _write_bigwig(out_dir / f"{name}.bw", region, genome.length(region.chrom), values)
        paths.append(out_dir / f"{name}.bw")
    from genomamba.downstream.variants.heatmap import plot_mutagenesis

    png = io.BytesIO()
    plot_mutagenesis(rows, region, genes, png, title=meta.get("title"))
    paths.append(atomic_write_bytes(out_dir / "heatmap.png", png.getvalue(), option="--out-dir"))
    summary = {**meta, "region": str(region), "n_snvs": len(rows),
               "n_scored": int(sum(r["status"] == "ok" for r in rows)),
               "files": [p.name for p in paths] + ["run.json"]}
    paths.append(write_json(out_dir / "run.json", summary, option="--out-dir"))
    return paths
