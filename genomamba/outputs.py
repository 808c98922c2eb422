"""Where outputs go: checked before the work starts, written atomically, never over an input,
never into another run's directory, and JSON always strict.

``tempfile`` creates private (0600 / 0700) entries on purpose; :func:`match_umask` gives a
renamed output the mode a plain ``open()`` / ``mkdir()`` would have had, so on a shared cluster
other users can read results and models.

A command that scores for an hour and then cannot write its result has wasted the hour, so
CLIs call :func:`check_output_path` first: it refuses a path that cannot be written, a path that
is one of the command's own inputs (``--out x.vcf --vcf x.vcf``; resolved paths, symlinks and
hard links included) and a path inside a run directory another run holds. :func:`atomic_write_text`
writes a temporary file in the target directory and renames it, so a full disk or a kill never
leaves a half-written result (nor a temporary file). :func:`write_json` is the one way the
project writes JSON: strict (no bare ``NaN`` / ``Infinity`` tokens), with a missing value as
``null`` and its reason under ``null_reasons``.

A run directory (``genomamba train`` / ``finetune`` / ``demo``) belongs to one run at a time:
:func:`hold_run_dir` takes an exclusive ``fcntl.flock`` on ``<run_dir>/.genomamba.lock`` for the
run's life. The kernel drops the lock when its process dies, so a lock left by a killed run is
never in the way; the file records the holder's PID and host for the message a second run gets.
:func:`check_run_name` keeps ``name=`` to one path component.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomamba.errors import ConfigError, GenomambaError

try:
    import fcntl
except ImportError:  # not POSIX (Windows): runs are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_NAME",
    "OutputError",
    "RunDirBusyError",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_not_input",
    "check_output_path",
    "check_run_dir",
    "check_run_name",
    "hold_run_dir",
    "is_launch_rank_zero",
    "json_text",
    "match_umask",
    "nearest_existing",
    "remove_failed_start",
    "run_dir_holder",
    "same_file",
    "writable_dir",
    "write_json",
]


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


def check_output_path(path: str | os.PathLike[str], option: str = "output", inputs: Mapping[str, Any] | None = None) -> Path:
    """Fail now, naming ``option`` and the path, if ``path`` could not or must not be written later.

    Missing parent directories are fine (they are created at write time) as long as the
    nearest existing one is a writable directory. Nothing is created here.

    Args:
        inputs: the command's inputs, ``{option: path or paths or None}`` (e.g.
            ``{"--vcf": args.vcf}``): the output must be none of them (:func:`check_not_input`).

    Raises:
        OutputError: ``path`` is a directory, lies under a file or an unwritable directory, is
            one of ``inputs``, or lies inside a run directory that another run holds.
    """
    p = Path(path).expanduser()
    check_not_input(p, option, inputs)
    if p.is_dir():
        raise OutputError(f"{option} {p} is a directory; give a file path inside it, e.g. {p / 'out.tsv'}")
    if p.exists() and not p.is_file() and not p.is_dir():
        return p  # a device or FIFO (/dev/stdout): written in place
    base = nearest_existing(p.parent)
    if not base.is_dir():
        raise OutputError(f"{option} {p}: {base} is a file, not a directory; choose another path")
    if not writable_dir(base):
        raise OutputError(f"{option} {p}: cannot write in {base} (read-only or no permission); choose another path")
    check_not_held(p, option)
    return p


def _given_paths(value: Any) -> list[str]:
    """The paths an input option holds: one path, several, a mapping of them, or None."""
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [os.fspath(value)] if os.fspath(value) else []
    if isinstance(value, Mapping):
        return [p for v in value.values() for p in _given_paths(v)]
    if isinstance(value, Iterable):
        return [p for v in value for p in _given_paths(v)]
    return []


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True if ``a`` and ``b`` name one file: equal resolved paths (symlinks followed, even to a
    file not yet there) or, for existing files, one inode (hard links)."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    try:
        if pa.resolve() == pb.resolve():
            return True
    except (OSError, RuntimeError):  # a symlink loop
        pass
    try:
        return os.path.samefile(pa, pb)
    except OSError:
        return False


def _inside(path: Path, directory: Path) -> bool:
    try:
        return path.expanduser().resolve().is_relative_to(directory.expanduser().resolve())
    except (OSError, RuntimeError):
        return False


def check_not_input(
    output: str | os.PathLike[str], option: str, inputs: Mapping[str, Any] | None, replaces_dir: bool = False,
    fix: str | None = None,
) -> None:
    """:class:`OutputError` if ``output`` is one of ``inputs`` (``{option: path(s)}``) or an existing
    file inside an input directory (a model's ``config.json``), or, when the command replaces
    ``output`` whole (``replaces_dir``), if an input lies inside it. ``fix`` is the message's
    advice (default: choose another ``option``)."""
    out = Path(output).expanduser()
    fix = fix or f"choose another {option}"
    for name, value in (inputs or {}).items():
        for given in _given_paths(value):
            if same_file(out, given):
                what = "directory" if Path(given).is_dir() else "file"
                raise OutputError(f"{option} {output} and {name} {given} are the same {what}; writing it would destroy "
                                  f"the input: {fix}")
            if out.exists() and Path(given).is_dir() and _inside(out, Path(given)):
                raise OutputError(f"{option} {output} is a file of {name} {given}; writing it would destroy the input: {fix}")
            if replaces_dir and _inside(Path(given), out):
                raise OutputError(
                    f"{option} {output} holds {name} {given}, which this command would write over: {fix}, or move "
                    "the input out of it"
                )


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


# ----------------------------------------------------------------------------- strict JSON
def _finite(value: Any, where: str, reasons: dict[str, str]) -> Any:
    """``value`` with every NaN / infinity replaced by None (its place and kind recorded in
    ``reasons``), numpy scalars and arrays as Python numbers and lists, paths as strings."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        reasons[where or "(value)"] = "not a number (NaN): undefined for these data" if math.isnan(value) else (
            f"infinite ({'+' if value > 0 else '-'}inf)")
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _finite(v, f"{where}.{k}" if where else str(k), reasons) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_finite(v, f"{where}[{i}]", reasons) for i, v in enumerate(value)]
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        return _finite(value.tolist(), where, reasons)
    return value  # json.dumps names anything else it cannot write


def json_text(obj: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON text of ``obj`` (``allow_nan=False``: no bare ``NaN`` / ``Infinity`` tokens, which
    are not JSON and which strict readers refuse).

    A missing value (NaN, an infinity) is written as ``null``; when ``obj`` is a mapping, its
    ``null_reasons`` entry maps each such value's place (``"scorers.model.auroc"``) to why.
    """
    reasons: dict[str, str] = {}
    clean = _finite(obj, "", reasons)
    if reasons and isinstance(clean, dict):
        clean["null_reasons"] = {**(clean.get("null_reasons") or {}), **reasons}
    return json.dumps(clean, indent=indent, allow_nan=False, sort_keys=sort_keys)


def write_json(path: str | os.PathLike[str], obj: Any, option: str = "output", indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON (:func:`json_text`) to ``path``, atomically (:func:`atomic_write_text`)."""
    return atomic_write_text(path, json_text(obj, indent) + "\n", option=option)


# ----------------------------------------------------------------------------- run directories
LOCK_NAME = ".genomamba.lock"
# What a run's start puts into its directory before the run's own outputs: Hydra's config copy
# and log, and the lock file.
_RUN_START_FILES = frozenset({".hydra", "train.log", "finetune.log", LOCK_NAME})
# Environment variables that give a distributed process a rank (torchrun, Lightning's launchers,
# SLURM's srun, IBM's jsrun); only the process with all of them 0 (or unset) owns the run dir.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


# flock errors of a filesystem without lock support (not of a lock held by someone else).
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})
log = logging.getLogger(__name__)


class RunDirBusyError(OutputError):
    """The run directory (or one above the output) is held by another running genomamba process."""


def check_run_dir(run_dir: Path, option: str = "run_dir") -> Path:
    """Fail early, naming ``run_dir``, when the run directory could not be created or written."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{option}={run_dir} is a file, not a directory; pass another run_dir=... or name=...")
    base = nearest_existing(run_dir)
    if not base.is_dir():
        raise ConfigError(f"{option}={run_dir}: {base} is a file, not a directory; pass another run_dir=... or name=...")
    if not writable_dir(base):
        raise ConfigError(
            f"{option}={run_dir}: cannot write in {base} (read-only or no permission); pass run_dir=<a writable "
            "directory>, or start genomamba from a writable directory (runs go to ./runs/<name>)"
        )
    return run_dir


@dataclass
class _Held:
    fd: int
    count: int
    created: list[Path]  # directories made for this run, deepest first (removed again if left empty)


_HELD: dict[Path, _Held] = {}


def is_launch_rank_zero() -> bool:
    """True unless this process is a non-zero rank of a distributed launch (its DDP workers,
    other nodes, other SLURM tasks); those share rank 0's run directory and must not lock it."""
    return all(os.environ.get(k, "0").strip() in ("0", "") for k in _RANK_VARIABLES)


def check_run_name(name: Any, key: str = "name") -> str:
    """``name`` if it is one folder name (runs go to ``runs/<name>``); ConfigError otherwise: empty
    (the run directory would be ``runs/`` itself), or holding ``/``, ``.`` / ``..`` (another folder)."""
    text = "" if name is None else str(name)
    if not text.strip():
        raise ConfigError(f"{key}= is empty: a run needs a name, its folder under runs/; pass e.g. {key}=my_run")
    if "/" in text or os.sep in text or text in (".", "..") or not text.isprintable():
        raise ConfigError(
            f"{key}={text!r} is not one folder name (no '/', '.' or '..', no control characters): runs go to "
            f"runs/<{key}>; pass e.g. {key}=my_run, or run_dir=<a path> to write elsewhere"
        )
    return text


def _describe_holder(text: str) -> str:
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if not fields.get("pid"):
        return "another process"
    since = f", since {fields['started'].replace('T', ' ')}" if fields.get("started") else ""
    return f"pid {fields['pid']} on host {fields.get('host', '?')}{since}"


def run_dir_holder(run_dir: str | os.PathLike[str]) -> str | None:
    """Who holds ``run_dir`` (``"pid 123 on host h, since ..."``), or None when no other process
    does (no lock file, a stale one of a dead process, or this process's own)."""
    d = Path(run_dir).expanduser().resolve()
    if fcntl is None or d in _HELD:
        return None
    try:
        fd = os.open(d / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return _describe_holder(os.pread(fd, 4096, 0).decode(errors="replace"))
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def check_not_held(path: str | os.PathLike[str], option: str) -> None:
    """:class:`RunDirBusyError` if ``path`` lies in (or is) a run directory another run holds."""
    p = Path(path).expanduser().resolve()
    for d in (p, *p.parents):
        holder = run_dir_holder(d) if (d / LOCK_NAME).exists() else None
        if holder:
            raise RunDirBusyError(
                f"{option} {path} is inside run directory {d}, which another genomamba run is writing ({holder}); "
                f"wait for it to finish or choose another {option}"
            )


def _acquire(d: Path, option: str) -> int:
    """An open descriptor of ``d/LOCK_NAME`` holding its exclusive lock; RunDirBusyError if another
    process holds it. A lock file replaced or removed while we waited is opened afresh."""
    lock = d / LOCK_NAME
    busy = "another process"
    for attempt in range(6):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise OutputError(f"{option}={d}: cannot create the lock file {lock} ({e.strerror}); choose another {option}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in _NO_LOCKS:  # e.g. NFS mounted with nolock: run unprotected rather than not at all
                log.warning("cannot lock %s (%s): runs into %s are not protected from each other", lock, e.strerror, d)
                return fd
            busy = _describe_holder(os.pread(fd, 4096, 0).decode(errors="replace"))
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(f"{option}={d}: cannot lock {lock} ({e.strerror}); choose another {option}") from None
            if attempt < 2:  # a brief shared lock of run_dir_holder's probe: look again
                time.sleep(0.05)
                continue
            break
        try:
            current = os.stat(lock).st_ino
        except FileNotFoundError:
            current = None
        if current != os.fstat(fd).st_ino:  # the holder removed the file as we opened it
            os.close(fd)
            continue
        info = f"pid={os.getpid()} host={socket.gethostname()} started={time.strftime('%Y-%m-%dT%H:%M:%S')}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        return fd
    raise RunDirBusyError(
        f"{option}={d} is in use by another genomamba run ({busy}); wait for it to finish, or start this one with "
        "another name=... or run_dir=..."
    )


def _make_dirs(d: Path, option: str) -> list[Path]:
    """``mkdir -p d``; the directories this call created, deepest first."""
    missing = []
    p = d
    while not p.exists():
        missing.append(p)
        p = p.parent
    created = []
    for m in reversed(missing):
        try:
            m.mkdir()
            created.append(m)
        except FileExistsError:  # made by a run starting at the same time
            pass
        except OSError as e:
            _remove_empty(created[::-1])
            raise OutputError(f"{option}={d}: cannot create {m} ({e.strerror}); choose another {option}") from None
    return created[::-1]


def _remove_empty(dirs: Iterable[Path]) -> None:
    for p in dirs:
        try:
            p.rmdir()
        except OSError:  # not empty (the run wrote there), or already gone
            return


@contextmanager
def hold_run_dir(run_dir: str | os.PathLike[str], option: str = "run_dir") -> Iterator[Path]:
    """Hold ``run_dir`` for this run: created if needed, locked exclusively for the block's life.

    Reentrant within a process (the ``genomamba train`` dispatcher takes it before Hydra starts,
    ``train()`` again inside). Directories it created are removed again if the run leaves them
    empty. Call it on launch rank 0 only (:func:`is_launch_rank_zero`): other ranks share rank 0's
    directory.

    Raises:
        RunDirBusyError: another process holds ``run_dir``, or a run directory above it.
        OutputError: ``run_dir`` cannot be created or locked.
    """
    d = Path(run_dir).expanduser().resolve()
    held = _HELD.get(d)
    if held is not None or fcntl is None:
        if held is not None:
            held.count += 1
        try:
            yield d
        finally:
            if held is not None:
                held.count -= 1
        return
    for parent in d.parents:
        holder = run_dir_holder(parent) if (parent / LOCK_NAME).exists() else None
        if holder:
            raise RunDirBusyError(
                f"{option}={d} is inside run directory {parent} of another genomamba run ({holder}); choose another "
                f"name=... or run_dir=..."
            )
    created = _make_dirs(d, option)
    try:
        fd = _acquire(d, option)
    except BaseException:
        _remove_empty(created)
        raise
    held = _HELD[d] = _Held(fd, 1, created)
    try:
        yield d
    finally:
        del _HELD[d]
        (d / LOCK_NAME).unlink(missing_ok=True)  # while still locked: the next run makes a fresh file
        os.close(fd)
        _remove_empty(held.created)


@contextmanager
def remove_failed_start(
    run_dir: str | os.PathLike[str], resumable: Any = None, keep: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """On an error in the block, remove what this run created in ``run_dir`` unless
    ``resumable()`` says the run can be resumed (a ``last.ckpt`` exists).

    Such a run cannot be resumed, and its leftovers (Hydra's ``.hydra``, an empty run directory, a
    ``best-*.ckpt`` from before a full disk) would make the next run refuse the directory. A run
    directory that held only what a run's start puts there (Hydra's files, the lock) is emptied;
    otherwise only the entries (and ``checkpoints/`` entries) that appeared during the block go.
    Exceptions of the types in ``keep`` (an interrupted run) leave everything in place.
    """
    d = Path(run_dir)
    ckpt_dir = d / "checkpoints"
    before = set(os.listdir(d)) if d.is_dir() else None
    ckpts_before = set(os.listdir(ckpt_dir)) if ckpt_dir.is_dir() else set()
    try:
        yield
    except keep:
        raise
    except (Exception, KeyboardInterrupt):  # Ctrl-C before anything resumable: nothing to keep either
        if d.is_dir() and not (resumable is not None and resumable()):
            whole = before is None or (bool(before) and before <= _RUN_START_FILES)
            names = set(os.listdir(d)) - ({LOCK_NAME} if whole else before | {LOCK_NAME})
            doomed = [d / n for n in names]
            if not whole and ckpt_dir.is_dir() and "checkpoints" in before:
                doomed += [ckpt_dir / n for n in set(os.listdir(ckpt_dir)) - ckpts_before]
            for p in doomed:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
            if whole:
                held = _HELD.get(d.resolve())
                if held is None:
                    _remove_empty([d])
                elif d.resolve() not in held.created:
                    held.created.insert(0, d.resolve())
        raise
