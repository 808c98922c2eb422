"""What sequence a model was trained on, so that later evaluations can prove they are held out.

``genomamba train`` saves, beside the weights, a *training-data record*: for every FASTA record
that training windows were cut from, the FASTA file name, the record name and length, the
SHA-256 of its upper-case sequence, and the intervals (0-based, half-open) the training windows
came from. Evaluations that claim "held out" (the species probe, the gene variant benchmark)
compare their test intervals with it and refuse to call overlapping windows held out.

Records are matched by sequence digest, not by path or name: a moved, renamed or re-compressed
FASTA still matches, and a different genome with a record of the same name does not.

Record format (``training_data.json``)::

    {"format": 1, "records": [{"fasta": "escherichia_coli_536.fa.gz", "record": "...",
      "length": 4938920, "sha256": "...", "intervals": [[0, 4691974]]}, ...]}
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import Interval, merge

__all__ = ["RECORD_FORMAT", "describe_training_data", "seen_overlap", "sequence_digest"]

RECORD_FORMAT = 1
_CHUNK = 1 << 22  # 4 Mb per fetch keeps memory flat on long chromosomes


def sequence_digest(genome: GenomeFile, record: str) -> str:
    """SHA-256 (hex) of the upper-case sequence of ``record`` (case is soft-masking, not sequence)."""
    h = hashlib.sha256()
    n = genome.lengths[record]
    for start in range(0, n, _CHUNK):
        h.update(genome.fetch(record, start, min(n, start + _CHUNK)).upper().encode("ascii"))
    return h.hexdigest()


def describe_training_data(files: Sequence[GenomeFile], intervals: Sequence[Sequence[Interval]]) -> dict[str, Any]:
    """The training-data record of windows cut from ``intervals[i]`` of ``files[i]`` (see module doc)."""
    records = []
    for f, ivs in zip(files, intervals, strict=True):
        by_record: dict[str, list[Interval]] = {}
        for iv in ivs:
            by_record.setdefault(iv.contig, []).append(iv)
        for record, parts in by_record.items():
            records.append({
                "fasta": f.path.name, "record": record, "length": f.lengths[record],
                "sha256": sequence_digest(f, record),
                "intervals": [[iv.start, iv.end] for iv in merge(parts)],
            })
    return {"format": RECORD_FORMAT, "records": records}


def seen_overlap(
    training_data: Mapping[str, Any], tests: Iterable[tuple[GenomeFile, Sequence[Interval]]]
) -> dict[str, tuple[int, int]]:
    """How many bases of each genome's test intervals lie inside the model's training intervals.

    Args:
        training_data: a training-data record (see module doc).
        tests: ``(genome, its test intervals)`` pairs, intervals in the genome's record names.

    Returns:
        ``{genome name: (bases trained on, bases tested)}`` for every genome in ``tests``.
    """
    parts: dict[tuple[str, int], list[Interval]] = {}
    for r in training_data.get("records", []):
        parts.setdefault((r["sha256"], int(r["length"])), []).extend(Interval("", int(s), int(e)) for s, e in r["intervals"])
    # one genome listed twice in training must not count its bases twice
    trained = {key: merge(ivs) for key, ivs in parts.items()}
    lengths = {length for _, length in trained}
    out: dict[str, tuple[int, int]] = {}
    digests: dict[tuple[str, str], str] = {}
    for genome, ivs in tests:
        seen, tested = out.get(genome.name, (0, 0))
        for iv in merge(ivs):
            tested += iv.length
            n = genome.lengths[iv.contig]
            if n not in lengths:  # no trained record has this length: no need to hash it
                continue
            key = (str(genome.path), iv.contig)
            if key not in digests:
                digests[key] = sequence_digest(genome, iv.contig)
            for t in trained.get((digests[key], n), []):
                seen += max(0, min(t.end, iv.end) - max(t.start, iv.start))
        out[genome.name] = (seen, tested)
    return out
