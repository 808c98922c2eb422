"""Record names and the accession aliases users type for them (one home for contig lookup).

FASTA files from NCBI often name a record with the whole defline identifier, e.g.
``gi|110640213|ref|NC_008253.1|``, while people, BED files and VCFs say ``NC_008253.1``
(or ``NC_008253``). :class:`ContigNames` maps such a name to its record:

* an exact record name always wins;
* otherwise an *alias* is accepted when exactly one record carries it. Aliases of a record
  are the accession after an NCBI database tag in a ``|``-separated identifier (``ref``,
  ``gb``, ``emb``, ``dbj``, ``tpg``, ``tpe``, ``tpd``, ``sp``, ``tr``, ``pdb``; ``lcl|x`` gives
  ``x``), and, for any accession ``ACC.N``, the version-less ``ACC``;
* an alias shared by several records raises :class:`~genomamba.errors.ContigError` listing
  them; nothing is guessed.

The identifier syntax is NCBI's ("FASTA identifiers", NCBI C++ Toolkit book, table 5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from genomamba.errors import ContigError

__all__ = ["ContigNames", "accession_aliases"]

_DB_TAGS = frozenset({"ref", "gb", "emb", "dbj", "tpg", "tpe", "tpd", "sp", "tr", "pdb", "lcl"})
_VERSIONED = re.compile(r"^(?P<base>[A-Za-z][A-Za-z0-9_]*)\.(?P<version>\d+)$")


def accession_aliases(name: str) -> list[str]:
    """Aliases of the record ``name`` (never ``name`` itself), in a stable order.

    >>> accession_aliases("gi|110640213|ref|NC_008253.1|")
    ['NC_008253.1', 'NC_008253']
    >>> accession_aliases("CP003200.1"), accession_aliases("chr1")
    (['CP003200'], [])
    """
    accessions: list[str] = []
    if "|" in name:
        tokens = name.split("|")
        for tag, value in zip(tokens, tokens[1:], strict=False):
            if tag.lower() in _DB_TAGS and value:
                accessions.append(value)
    else:
        accessions.append(name)
    out: list[str] = []
    for acc in accessions:
        m = _VERSIONED.match(acc)
        for alias in (acc, m.group("base") if m else None):
            if alias and alias != name and alias not in out:
                out.append(alias)
    return out


class ContigNames:
    """Resolve user-given contig names to record names (see the module docstring).

    Args:
        names: the record names of one FASTA (or of several, for a BED shared by them).
        source: what the names belong to, for messages (e.g. the FASTA path).
    """

    def __init__(self, names: Iterable[str], source: str = "the FASTA"):
        self.names = list(dict.fromkeys(names))
        self.source = source
        self._exact = set(self.names)
        self._alias: dict[str, list[str]] = {}
        for n in self.names:
            for a in accession_aliases(n):
                self._alias.setdefault(a, []).append(n)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._exact or name in self._alias)

    def get(self, name: str, where: str = "") -> str | None:
        """The record ``name`` refers to, or None if none does.

        Raises:
            ContigError: ``name`` is an alias of several records (``where`` prefixes the message).
        """
        name = str(name)
        if name in self._exact:
            return name
        hits = self._alias.get(name)
        if not hits:
            return None
        if len(hits) > 1:
            raise ContigError(
                f"{where}contig {name!r} is ambiguous in {self.source}: it is an accession alias of "
                f"{len(hits)} records ({', '.join(repr(h) for h in hits[:5])}); use the full record name"
            )
        return hits[0]

    def resolve(self, name: str, where: str = "") -> str:
        """Like :meth:`get`, but an unknown name raises :class:`ContigError` listing the records."""
        rec = self.get(name, where)
        if rec is None:
            shown = ", ".join(repr(n) for n in self.names[:10]) + (" ..." if len(self.names) > 10 else "")
            raise ContigError(f"{where}no record named {name!r} in {self.source}; records: {shown}")
        return rec
