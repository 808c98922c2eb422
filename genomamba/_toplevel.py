"""Keep the repository's source folders from shadowing other projects' top-level packages.

``kernels/`` and ``configs/`` sit at the repository root and install as ``genomamba.kernels`` and
``genomamba.configs``. When Python starts in the repository root (``python -m pytest``, ``python
-c``, a notebook), the root is on ``sys.path`` and the folders would be found first as the
top-level packages ``kernels`` and ``configs``. ``kernels`` is Hugging Face's package, which
transformers imports: shadowing it breaks transformers. So each folder's ``__init__`` calls
:func:`hand_over` when it is imported under its top-level name: the import then resolves to the
installed package of that name, found on the rest of ``sys.path``, or fails as if the folder were
not there. The folders are reachable only through ``genomamba``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def _same_dir(entry: str, folder: str) -> bool:
    try:
        return os.path.samefile(entry or os.getcwd(), folder)
    except OSError:
        return False


def hand_over(name: str, init_file: str) -> None:
    """Replace ``sys.modules[name]`` (this repository's folder) with the installed package ``name``.

    Raises ``ModuleNotFoundError`` when no other ``name`` is installed, exactly as a plain
    ``import name`` would without the repository on ``sys.path``.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(init_file)))
    rest = [p for p in sys.path if not _same_dir(p, root)]
    spec = importlib.machinery.PathFinder.find_spec(name, rest)
    if spec is None or spec.loader is None:
        del sys.modules[name]
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    module = importlib.util.module_from_spec(spec)
    # The import system returns whatever sys.modules holds once this __init__ finishes.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
