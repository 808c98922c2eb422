"""Output files: check where they go before the work starts, write them atomically.

``tempfile`` creates private (0600 / 0700) entries on purpose; :func:`match_umask` gives a
renamed output the mode a plain ``open()`` / ``mkdir()`` would have had, so on a shared cluster
other users can read results and models.

A command that scores for an hour and then cannot write its result has wasted the hour, so
CLIs call :func:`check_output_path` first. :func:`atomic_write_text` writes a temporary file
in the target directory and renames it, so a full disk or a kill never leaves a half-written
result (nor a temporary file).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from genomamba.errors import GenomambaError

__all__ = ["OutputError", "atomic_write_bytes", "atomic_write_text", "check_output_path", "match_umask", "nearest_existing", "writable_dir"]


class OutputError(GenomambaError):
    """An output path cannot be written (a directory, a read-only place, a full disk)."""


def nearest_existing(p: Path) -> Path:
    """``p`` itself or its closest ancestor that exists."""
    if p.exists():
        return p
    for parent in p.parents:
        if parent.exists():
            return parent
    return Path("/")


def check_output_path(path: str | os.PathLike[str], option: str = "output") -> Path:
    """Fail now, naming ``option`` and the path, if ``path`` could not be written later.

    Missing parent directories are fine (they are created at write time) as long as the
    nearest existing one is a writable directory. Nothing is created here.

    Raises:
        OutputError: ``path`` is a directory, or lies under a file or an unwritable directory.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputError(f"{option} {p} is a directory; give a file path inside it, e.g. {p / 'out.tsv'}")
    if p.exists() and not p.is_file():
        return p  # a device or FIFO (/dev/stdout): written in place
    base = nearest_existing(p.parent)
    if not base.is_dir():
        raise OutputError(f"{option} {p}: {base} is a file, not a directory; choose another path")
    if not writable_dir(base):
        raise OutputError(f"{option} {p}: cannot write in {base} (read-only or no permission); choose another path")
    return p


def writable_dir(directory: Path) -> bool:
    """True if files can really be created in ``directory``."""
    # os.access is not enough as root or on read-only mounts: really create an anonymous file.
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError:
        return False
    return True


def atomic_write_text(path: str | os.PathLike[str], text: str, option: str = "output") -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary sibling and ``os.replace``.

    Raises:
        OutputError: the write failed (e.g. no space left); nothing is left behind.
    """
    return atomic_write_bytes(path, text.encode("utf-8"), option=option)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, option: str = "output") -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and ``os.replace`` (a PNG, a table).

    Raises:
        OutputError: the write failed (e.g. no space left); nothing is left behind.
    """
    p = Path(path).expanduser()
    try:
        if p.exists() and not p.is_file() and not p.is_dir():
            with open(p, "wb") as fh:  # a device or FIFO: no rename possible
                fh.write(data)
            return p
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            match_umask(tmp)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise OutputError(f"{option} {p}: cannot be written ({err.strerror or err}); free space or choose another path") from None
    return p


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
