"""The locked install of genomamba's own setup (``make install``, ``make demo``, ``make test``, CI).

    python requirements/lock.py freeze > requirements/lock.txt   # what `make lock` writes
    python requirements/lock.py sync requirements/lock.txt       # what `make install` checks

``freeze`` lists every distribution installed in the running interpreter's environment (the
fresh venv that ``make lock`` filled with the newest releases), genomamba itself excepted, as
exact ``name==version`` pins. A local version label is dropped (``torch==2.13.0+cpu`` is pinned
as ``torch==2.13.0``, which the CPU wheel installed first satisfies).

``sync`` makes the environment exactly the lock: it uninstalls what the lock does not list (a
package an older lock had) and fails, naming them, if a pinned version is missing or differs.
Standard library only: it runs before anything else is installed.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import subprocess
import sys
from datetime import date

OWN = "genomamba"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def installed() -> dict[str, str]:
    """``{normalized name: version without local label}`` of this environment, genomamba excepted."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and _norm(name) != OWN:
            found.setdefault(_norm(name), dist.version.split("+")[0])
    return found


def read_lock(path: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    with open(path) as fh:
        for line in fh:
            line = line.split("#")[0].strip()
            if line:
                name, _, version = line.partition("==")
                pins[_norm(name)] = version.strip()
    return pins


def freeze() -> int:
    py = ".".join(platform.python_version_tuple()[:2])
    print(f"# genomamba's locked install: every package that `pip install -e .[dev,workflows,docs]` installed\n"
          f"# into a fresh venv, newest releases of {date.today().isoformat()} (Python {py}, {sys.platform} "
          f"{platform.machine()}), torch the CPU wheel.\n"
          "# Written by `make lock`; installed by `make install` (and so `make demo`, `make test`, .ci/run).\n"
          "# `pip install genomamba` does not read it: pyproject.toml keeps lower bounds only.")
    for name, version in sorted(installed().items()):
        print(f"{name}=={version}")
    return 0


def sync(lock_path: str) -> int:
    pins, have = read_lock(lock_path), installed()
    extra = sorted(set(have) - set(pins))
    if extra:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-qq", "-y", *extra], check=True)
        have = installed()
    wrong = [f"{n}=={v} (installed: {have.get(n, 'none')})" for n, v in sorted(pins.items()) if have.get(n) != v]
    if wrong:
        print(f"{sys.prefix} differs from {lock_path}: {', '.join(wrong)}; run `make clean install`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["freeze"]:
        sys.exit(freeze())
    if sys.argv[1:2] == ["sync"] and len(sys.argv) == 3:
        sys.exit(sync(sys.argv[2]))
    sys.exit(f"usage: {sys.argv[0]} freeze | sync LOCK")
