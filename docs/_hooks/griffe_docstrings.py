"""Griffe extension for the API reference: two conventions of genomamba's docstrings that the
Google-style parser does not know.

- An ``Args:`` entry may document several parameters that share a shape, ``u, delta, z: (B, D, L)``,
  and one line may hold several entries, ``u: (B, D, L).  A: (D, N).``; they are split into one
  entry per parameter.
- Doctest examples (``>>>`` lines and the output after them) outside an ``Examples:`` section are
  fenced as code, so their output is not read as Markdown (``[0.1, 0.6]`` is not a link).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Attributes|Returns|Raises|Yields|Examples?|Note|Notes):\s*$")
_ENTRY = re.compile(r"^(?P<indent>\s+)(?P<names>\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)(?P<type>\s*\([^)]*\))?:(?P<text>.*)$")
# "u: (B, D, L).  A: (D, N)." : a sentence end, two spaces, then the next entry's names and colon
_NEXT_ENTRY = re.compile(r"(?<=\.)\s{2,}(?=\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*:\s)")


def rewrite(text: str) -> str:
    """The docstring ``text`` with shared ``Args:`` entries split and doctests fenced."""
    out: list[str] = []
    section = None
    entry_indent = None  # the indentation of the section's entries (continuation lines are deeper)
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        header = _SECTION.match(line)
        if header:
            section, entry_indent = header.group(1), None
        elif line and not line[0].isspace():
            section = None  # back to the description
        elif line.strip() and entry_indent is None:
            entry_indent = line[: len(line) - len(line.lstrip())]
        in_args = section in ("Args", "Arguments", "Parameters")
        entry = _ENTRY.match(line) if in_args and line[: len(line) - len(line.lstrip())] == entry_indent else None
        if entry:
            indent = entry.group("indent")
            for part in _NEXT_ENTRY.split(line.strip()):
                one = _ENTRY.match(indent + part)
                if one is None:
                    out.append(indent + part)
                    continue
                for name in re.split(r"\s*,\s*", one.group("names")):
                    out.append(f"{indent}{name}{one.group('type') or ''}:{one.group('text')}")
            i += 1
            continue
        if line.lstrip().startswith(">>>") and section not in ("Example", "Examples"):
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += [f"{indent}```pycon", *block, f"{indent}```"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class GenomambaDocstrings(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
