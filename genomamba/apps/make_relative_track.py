"""``genomamba make-relative-track``: a related genome's bases aligned to every position of a
genome, written as a track FASTA (:mod:`genomamba.data.tracks`) for relative-track models."""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genomamba.errors import ConfigError
from genomamba.progress import done_line

__all__ = ["main", "write_track_fasta"]

_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genomamba make-relative-track",
        description="Align every complete Prodigal gene of a genome to its best homolog in a related genome (protein "
                    "alignment) and write the relative's aligned bases as a FASTA with the genome's records: the "
                    "second input of models trained with model.relative_track=true.",
    )
    p.add_argument("--fasta", required=True, help="the genome (.fa / bgzipped .fa.gz)")
    p.add_argument("--relative", required=True, help="a related genome, e.g. another species of the same family")
    p.add_argument("--out", required=True, help="track FASTA to write (.fa, or .fa.gz for BGZF)")
    return p


def write_track_fasta(track: dict[str, np.ndarray], path: str | os.PathLike[str], description: str) -> Path:
    """Write ``{record: codes (n,)}`` (A, C, G, T, N = 0..4) as FASTA, BGZF-compressed with htslib's
    bgzip (``pysam.tabix_compress``) when ``path`` ends in ``.gz``, atomically (never half-written).
    htslib's blocks hold 65,280 bytes: a reader's virtual offsets never point at a block's very
    end, which pyfaidx cannot seek to (full 64 KiB blocks, as Biopython's ``BgzfWriter`` writes
    them, break it)."""
    import pysam
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    from genomamba.outputs import OutputError, atomic_write_bytes, atomic_write_text

    records = [SeqRecord(Seq(_LETTERS[codes].tobytes().decode()), id=name, description=description)
               for name, codes in track.items()]
    buf = io.StringIO()
    SeqIO.write(records, buf, "fasta")
    if not str(path).endswith(".gz"):
        return atomic_write_text(path, buf.getvalue(), option="--out")
    try:  # bgzip compresses file to file: a scratch folder, then the usual atomic write
        with tempfile.TemporaryDirectory() as scratch:
            plain = Path(scratch) / "track.fa"
            plain.write_text(buf.getvalue())
            pysam.tabix_compress(str(plain), f"{plain}.gz", force=True)
            data = Path(f"{plain}.gz").read_bytes()
    except OSError as err:
        raise OutputError(f"--out {path}: cannot compress the track ({err.strerror or err}); free space in the "
                          "temporary folder ($TMPDIR) or write a plain .fa") from None
    return atomic_write_bytes(path, data, option="--out")


def main(argv: Sequence[str] | None = None) -> int:
    """``genomamba make-relative-track``; raises GenomambaError on bad input (the CLI exits 2)."""
    a = _parser().parse_args(argv)
    from genomamba.apps.args import fasta_arg
    from genomamba.outputs import check_output_path

    fasta_arg(a.fasta)
    fasta_arg(a.relative, "--relative")
    check_output_path(a.out, option="--out", inputs={"--fasta": a.fasta, "--relative": a.relative})
    start = time.perf_counter()
    from genomamba.data.fasta import GenomeFile
    from genomamba.data.provenance import sequence_digest
    from genomamba.downstream.genes.homologs import aligned_relative_track, check_nucleotide_genome

    genome, relative = GenomeFile(a.fasta), GenomeFile(a.relative)
    check_nucleotide_genome(genome, "--fasta")
    check_nucleotide_genome(relative, "--relative")
    same = relative.lengths == genome.lengths and all(
        sequence_digest(relative, c) == sequence_digest(genome, c) for c in genome.lengths)
    if same:
        raise ConfigError(f"--relative {a.relative} is the genome of --fasta itself; give a related genome (another "
                          "strain or species), whose differences are what the track carries")
    track, counts = aligned_relative_track(genome, relative)
    if not counts["genes"]:
        raise ConfigError(
            f"--fasta {a.fasta}: Prodigal calls no complete gene in it, so no base can be aligned and the track would be "
            "all N; give a prokaryotic genome (tracks are aligned gene by gene)"
        )
    if not counts["aligned_bases"]:
        raise ConfigError(
            f"--relative {a.relative}: none of the {counts['genes']:,} complete genes of --fasta {a.fasta} has a homolog "
            "in it, so the track would be all N; give a genome of a related species (e.g. the same family)"
        )
    description = (f"relative_track relative={relative.path.name} genes={counts['genes']} "
                   f"genes_with_homolog={counts['genes_with_homolog']} aligned_bases={counts['aligned_bases']}")
    write_track_fasta(track, a.out, description)
    total = sum(genome.lengths.values())
    what = (f"wrote {a.out}: {counts['aligned_bases']:,} of {total:,} bases aligned ({counts['aligned_bases'] / total:.1%}); "
            f"{counts['genes_with_homolog']:,} of {counts['genes']:,} complete genes have a homolog in {relative.path.name}")
    print(done_line(what, time.perf_counter() - start), file=sys.stderr)
    return 0
