"""The species table: which genome FASTA files belong to which species (one reader for all).

A tab-separated file with a header naming the columns ``path`` and ``species`` and optionally
``strain`` (other columns are ignored, in any order)::

    path                        species                 strain
    genomes/ecoli_536.fa.gz     Escherichia coli        536

Relative paths are taken from the table's folder. Blank lines and lines starting with ``#``
are skipped (also before the header). A missing or empty ``strain`` is the file's name. Each
genome is listed once: a second line naming the same file (also through another path or a
link) is an error, as it would be sampled twice.
The library (:func:`genomamba.data.fasta.open_genomes`,
:func:`genomamba.downstream.species.genomes.read_species_table`) and the species workflow all read
tables here, so a table means the same thing everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from genomamba.errors import ConfigError, FastaError

__all__ = ["SpeciesTableRow", "check_test_strains", "first_duplicate", "parse_test_strains", "read_species_table"]

_REQUIRED = ("path", "species")


class SpeciesTableRow(NamedTuple):
    """One genome of a species table."""

    path: Path
    """The FASTA, absolute or relative to the current directory (table-relative paths resolved)."""
    species: str
    strain: str
    line: int
    """Line number in the table (1-based), for messages about this genome."""


def first_duplicate(paths: Sequence[Path]) -> tuple[int, int] | None:
    """Indices ``(i, j)``, ``i < j``, of the first two paths naming one file (the same path, a link
    to it, or another spelling), or None when all are distinct."""
    seen: dict[object, int] = {}
    for j, path in enumerate(paths):
        key = _file_key(Path(path))
        if key in seen:
            return seen[key], j
        seen[key] = j
    return None


def _file_key(path: Path) -> tuple[int, int] | Path:
    """What makes two paths one file: device and inode (a symlink or a hard link is its target)."""
    try:
        st = path.stat()
    except OSError:
        return path.resolve()
    return (st.st_dev, st.st_ino)


def read_species_table(path: str | os.PathLike[str]) -> list[SpeciesTableRow]:
    """Read a species table (see the module docstring) and check that each FASTA it names exists,
    once; the FASTA files are not opened.

    Cells are stripped of surrounding spaces; a UTF-8 byte-order mark and Windows line endings
    are accepted.

    Returns:
        The genomes in table order (at least one).

    Raises:
        FastaError: the table is missing or not text, lacks a column, has a row without a path or
            species, names a FASTA that does not exist, or names one genome twice (as the same
            path or as two names of one file), or one strain of a species twice; the message names
            the table and the line(s).
    """
    table = Path(path)
    if table.is_dir():
        raise FastaError(f"species table {table} is a directory; pass the .tsv file (columns path, species[, strain])")
    if not table.is_file():
        raise FastaError(f"species table not found: {table}")
    try:
        text = table.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FastaError(
            f"{table}: not a UTF-8 text table ({e.reason} at byte {e.start}); save it as tab-separated text "
            "with columns path, species[, strain]"
        ) from None
    numbered = [
        (lineno, line)
        for lineno, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.startswith("#")
    ]
    header_line, header_text = numbered[0] if numbered else (1, "")
    header = [c.strip() for c in header_text.split("\t")]
    if any(column not in header for column in _REQUIRED):
        sep = next((f" (it is {name}-separated: use tabs)" for ch, name in ((",", "comma"), (";", "semicolon"))
                    if len(header) == 1 and ch in header_text), "")
        raise FastaError(
            f"{table}:{header_line}: expected a tab-separated header with columns 'path' and 'species' "
            f"(and optionally 'strain'), got {header}{sep}"
        )
    i_path, i_species = header.index("path"), header.index("species")
    i_strain = header.index("strain") if "strain" in header else None
    rows: list[SpeciesTableRow] = []
    seen: dict[object, SpeciesTableRow] = {}
    strains: dict[tuple[str, str], SpeciesTableRow] = {}
    for lineno, line in numbered[1:]:
        cols = [c.strip() for c in line.split("\t")]
        if len(cols) <= max(i_path, i_species):
            raise FastaError(
                f"{table}:{lineno}: expected {len(header)} tab-separated columns ({', '.join(header)}), "
                f"got {len(cols)}"
            )
        if not cols[i_path] or not cols[i_species]:
            raise FastaError(f"{table}:{lineno}: empty path or species")
        fasta = Path(cols[i_path]).expanduser()
        fasta = fasta if fasta.is_absolute() else table.parent / fasta
        strain = cols[i_strain] if i_strain is not None and i_strain < len(cols) else ""
        row = SpeciesTableRow(fasta, cols[i_species], strain or fasta.name, lineno)
        if not fasta.exists():
            raise FastaError(
                f"genome FASTA not found: {fasta.resolve()} (line {lineno} of the species table {table}; relative "
                "paths in a table are taken from the table's folder); fix the path or remove the line"
            )
        key = _file_key(fasta)
        if key in seen:
            first = seen[key]
            names = str(first.path) if first.path == fasta else f"{first.path} and {fasta}, one file"
            raise FastaError(
                f"{table}: lines {first.line} and {lineno} name the same genome ({names}); a genome listed twice "
                "would be sampled twice: remove one line"
            )
        seen[key] = row
        if (row.species, row.strain) in strains:
            raise FastaError(
                f"{table}: lines {strains[row.species, row.strain].line} and {lineno} both name strain {row.strain!r} "
                f"of {row.species!r} (different files); give each genome its own strain name"
            )
        strains[row.species, row.strain] = row
        rows.append(row)
    if not rows:
        raise FastaError(f"{table}: the species table lists no genomes")
    return rows


def parse_test_strains(value: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    """``{species: strain}`` from a mapping or from ``"species=strain"`` strings (the form a
    Hydra command line can pass: ``task.data.test_strains=["Staphylococcus aureus=N315"]``)."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        value = [value]
    out = {}
    for item in value:
        species, sep, strain = str(item).partition("=")
        if not sep or not species.strip() or not strain.strip():
            raise ConfigError(
                f"test_strains: {item!r} is not 'species=strain'; give e.g. ['Staphylococcus aureus=N315'] "
                "or a mapping {species: strain}"
            )
        out[species.strip()] = strain.strip()
    return out


def check_test_strains(
    genomes: Sequence[tuple[str, str]], test_strains: Mapping[str, str] | Sequence[str] | None, split: str
) -> dict[str, int]:
    """Which genome each named test strain is: ``{species: index into genomes}``.

    Args:
        genomes: ``(species, strain)`` of each genome, in table order.
        test_strains: ``{species: strain}`` (or ``"species=strain"`` strings, see
            :func:`parse_test_strains`) to hold out whole (``split="strain"`` only), or None.
        split: the split protocol (``"region"`` or ``"strain"``).

    Raises:
        ConfigError: ``test_strains`` with another split, an unknown species, or a strain that is
            not one of two or more strains of its species (the message lists the choices).
    """
    chosen = parse_test_strains(test_strains)
    if chosen and split != "strain":
        raise ConfigError(f"test_strains applies to split='strain' only (got split={split!r}); drop it or use split='strain'")
    species = list(dict.fromkeys(sp for sp, _ in genomes))
    unknown = [sp for sp in chosen if sp not in species]
    if unknown:
        raise ConfigError(f"test_strains: species {unknown[0]!r} is not in the genome table; species: {species}")
    out = {}
    for sp, strain in chosen.items():
        members = [i for i, (s, _) in enumerate(genomes) if s == sp]
        strains = [genomes[i][1] for i in members]
        if strain not in strains:
            raise ConfigError(
                f"test_strains: {sp!r} has no strain {strain!r} to hold out (its strains: {strains}); name one "
                "of them, or leave the species out"
            )
        if len(members) < 2:
            raise ConfigError(
                f"test_strains: {sp!r} has a single strain ({strain!r}) in the genome table, and holding it out "
                "would leave the species nothing to train on; leave the species out of test_strains (it is "
                "then tested on its held-out region) or add another strain of it to the table"
            )
        out[sp] = members[strains.index(strain)]
    return out
