"""Species classification data: labelled genomes, split protocols and deterministic windows.

Genomes come from a species table (``path``, ``species``, ``strain``; the bundled one is
``data/species.tsv``) or explicit entries. The label of a window is its species.

Split protocols (:func:`split_genomes`):

* ``"region"`` — region held out: the last ``test_fraction`` of every record of every genome
  is the test region (and the ``val_fraction`` before it validation); windows are drawn
  inside one region, so train and test windows never overlap.
* ``"strain"`` — strain held out: for each species with at least two strains, one strain
  (chosen with ``seed``, or named in ``test_strains``) is the test genome, whole, and the
  classifier trains on the other strains. Species with a single strain cannot be held out
  this way and fall back to the region split (their test windows come from their held-out
  region); ``SpeciesSplit.held_out`` says which strain / region each species is tested on.

Windows (:func:`draw_windows`): for each species ``n_per_species`` windows (exactly
balanced classes), drawn species -> record (weighted by the number of window starts it
offers, i.e. by length) -> uniform start, as in HyenaDNA's / Mamba's species benchmark.
Draws are seeded per (seed, split, species), so the same arguments give the same windows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import Interval, split_by_region
from genomamba.data.species_table import check_test_strains, first_duplicate
from genomamba.data.species_table import read_species_table as _read_table_rows
from genomamba.data.windows import RandomWindowDataset
from genomamba.errors import ConfigError

__all__ = [
    "SpeciesGenome",
    "SpeciesSplit",
    "WindowSet",
    "as_genomes",
    "bundled_species_table",
    "draw_windows",
    "read_species_table",
    "split_genomes",
]

PROTOCOLS = ("region", "strain")
_SPLIT_OFFSET = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class SpeciesGenome:
    """One genome FASTA with its species (the class label) and strain."""

    path: Path
    species: str
    strain: str = ""


def bundled_species_table() -> Path:
    """``data/species.tsv`` of the source checkout, or ``$GENOMAMBA_DATA_DIR/species.tsv``."""
    env = os.environ.get("GENOMAMBA_DATA_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "data"
    return root / "species.tsv"


def read_species_table(path: str | os.PathLike[str]) -> list[SpeciesGenome]:
    """Read a species table (columns ``path``, ``species``, optionally ``strain``; see
    :mod:`genomamba.data.species_table`). Relative paths are taken from the table's directory.

    Raises:
        FastaError: the table is missing, lacks a column, or has a bad line (named).
    """
    return [SpeciesGenome(row.path, row.species, row.strain) for row in _read_table_rows(path)]


def as_genomes(genomes: Any = None) -> list[SpeciesGenome]:
    """Normalise a genome specification.

    Args:
        genomes: ``None`` (the bundled table), a ``.tsv`` species table, a list of
            :class:`SpeciesGenome` or of mappings ``{path, species[, strain]}``, or a mapping
            ``species -> path | [paths]`` (strains named by file).
    """
    if genomes is None:
        return read_species_table(bundled_species_table())
    if isinstance(genomes, str | os.PathLike):
        return read_species_table(genomes)
    out: list[SpeciesGenome] = []
    if isinstance(genomes, Mapping):
        for species, paths in genomes.items():
            paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
            out.extend(SpeciesGenome(Path(p), str(species), Path(p).name) for p in paths)
    elif isinstance(genomes, Iterable):
        for i, g in enumerate(genomes):
            if isinstance(g, SpeciesGenome):
                out.append(g)
            elif isinstance(g, Mapping) and "path" in g and "species" in g:
                out.append(SpeciesGenome(Path(g["path"]), str(g["species"]), str(g.get("strain") or Path(g["path"]).name)))
            else:
                raise ConfigError(f"genome entry {i} ({g!r}) needs 'path' and 'species' (and optionally 'strain')")
    if not out:
        raise ConfigError(f"no genomes given ({genomes!r})")
    twice = first_duplicate([g.path for g in out])
    if twice is not None:
        i, j = twice
        raise ConfigError(
            f"genome entries {i} ({out[i].path}, {out[i].species}) and {j} ({out[j].path}, {out[j].species}) name the "
            "same FASTA file; a genome listed twice would be sampled twice: remove one"
        )
    return out


@dataclass
class SpeciesSplit:
    """Opened genomes (``files[i].label`` indexes ``species``) and per-file split intervals.

    ``intervals[split][i]`` are the regions of ``files[i]`` in ``split`` ("train"/"val"/"test");
    ``held_out[species]`` describes what that species is tested on.
    """

    files: list[GenomeFile]
    genomes: list[SpeciesGenome]
    species: list[str]
    protocol: str
    intervals: dict[str, list[list[Interval]]]
    held_out: dict[str, str] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.species)


def split_genomes(
    genomes: Any = None, split: str = "region", test_fraction: float = 0.2, val_fraction: float = 0.0, seed: int = 0,
    test_strains: Mapping[str, str] | None = None,
) -> SpeciesSplit:
    """Open the genomes and split them by ``split`` protocol (see the module docstring).

    ``test_strains`` (``split="strain"`` only) names the strain to hold out for some species,
    ``{species: strain}``; the others get a seeded random choice. Fix it when a pretrained model
    saw some strains, so that the test strains stay ones it never saw whatever the window seed.
    """
    if split not in PROTOCOLS:
        raise ConfigError(f"split must be one of {PROTOCOLS}, got {split!r}")
    entries = as_genomes(genomes)
    species = list(dict.fromkeys(g.species for g in entries))
    named = check_test_strains([(g.species, g.strain) for g in entries], test_strains, split)
    if len(species) < 2:
        raise ConfigError(f"species classification needs at least two species, got {species}")
    files = [GenomeFile(g.path, label=species.index(g.species), name=f"{g.species} {g.strain}".strip()) for g in entries]
    rng = np.random.default_rng(seed)
    test_genome: dict[str, int] = {}
    if split == "strain":
        for sp in species:
            members = [i for i, g in enumerate(entries) if g.species == sp]
            if sp in named:
                test_genome[sp] = named[sp]
            elif len(members) >= 2:
                test_genome[sp] = members[int(rng.integers(len(members)))]
    intervals: dict[str, list[list[Interval]]] = {"train": [], "val": [], "test": []}
    held_out: dict[str, str] = {}
    for i, (g, f) in enumerate(zip(entries, files, strict=True)):
        if g.species in test_genome:
            if test_genome[g.species] == i:
                parts = {"train": [], "val": [], "test": [Interval(c, 0, n) for c, n in f.lengths.items()]}
                held_out[g.species] = f"strain {g.strain}"
            else:
                parts = split_by_region(f.lengths, val_fraction=val_fraction, test_fraction=0.0)
        else:
            parts = split_by_region(f.lengths, val_fraction=val_fraction, test_fraction=test_fraction)
            held_out.setdefault(g.species, f"last {test_fraction:.0%} of each record")
        for k in intervals:
            intervals[k].append(list(parts[k]))
    return SpeciesSplit(files, entries, species, split, intervals, held_out)


@dataclass
class WindowSet:
    """Windows of one split: ``ids`` int8 ``(N, L)`` token ids, ``labels`` int64 ``(N,)`` species,
    ``genome`` / ``contig`` / ``start`` per window (provenance)."""

    ids: np.ndarray
    labels: np.ndarray
    genome: list[str]
    contig: list[str]
    start: np.ndarray


def draw_windows(
    split: SpeciesSplit,
    which: str,
    window_length: int,
    n_per_species: int,
    seed: int = 0,
    max_n_fraction: float = 0.1,
) -> WindowSet:
    """Draw ``n_per_species`` windows of ``window_length`` per species from split ``which``."""
    if which not in _SPLIT_OFFSET:
        raise ConfigError(f"which must be 'train', 'val' or 'test', got {which!r}")
    if n_per_species < 1:
        raise ConfigError(f"n_per_species must be >= 1, got {n_per_species}")
    ids, labels, genome, contig, start = [], [], [], [], []
    for label, sp in enumerate(split.species):
        members = [i for i, f in enumerate(split.files) if f.label == label and split.intervals[which][i]]
        if not members:
            raise ConfigError(f"species {sp!r} has no {which} region (protocol {split.protocol!r}); raise the {which} fraction")
        ds = RandomWindowDataset(
            [split.files[i] for i in members],
            [split.intervals[which][i] for i in members],
            window_length,
            samples_per_epoch=n_per_species,
            seed=seed * len(_SPLIT_OFFSET) + _SPLIT_OFFSET[which],
            max_n_fraction=max_n_fraction,
            split=which,
        )
        for j in range(n_per_species):
            item = ds[label * n_per_species + j]
            ids.append(item["input_ids"].numpy().astype(np.int8))
            labels.append(label)
            genome.append(item["genome"])
            contig.append(item["contig"])
            start.append(item["start"])
    return WindowSet(np.stack(ids), np.asarray(labels, dtype=np.int64), genome, contig, np.asarray(start))


