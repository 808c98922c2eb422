"""File-permission helper for atomic writes.

``tempfile.mkstemp`` / ``mkdtemp`` create private (0600 / 0700) entries on purpose. Outputs
written through them and then renamed into place would keep those modes, so on a shared
cluster nobody else could read a trained model. ``match_umask`` gives them the mode a plain
``open()`` / ``mkdir()`` would have had under the process umask.
"""

from __future__ import annotations

import os
from pathlib import Path


def current_umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter before 3.13)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def match_umask(path: str | os.PathLike[str]) -> None:
    """chmod ``path`` (a file, or a directory and the files directly inside it) to 0666 / 0777
    masked by the umask, as if it had been created without ``tempfile``."""
    p = Path(path)
    mask = current_umask()
    if p.is_dir():
        os.chmod(p, 0o777 & ~mask)
        for child in p.iterdir():
            if child.is_file():
                os.chmod(child, 0o666 & ~mask)
    else:
        os.chmod(p, 0o666 & ~mask)
