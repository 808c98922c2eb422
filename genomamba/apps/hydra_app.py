"""What the Hydra applications (``genomamba train``, ``genomamba finetune``, and the demo that
trains like ``train``) share: one preflight and one error path.

:func:`prepared_run` composes the config, checks the run name and directory, holds the run
directory (:func:`genomamba.outputs.hold_run_dir`) and runs the command's checks, all before
Hydra writes anything; any failure is a :class:`~genomamba.errors.GenomambaError` with one line
(Hydra / OmegaConf errors through :func:`config_error_line`), which the dispatcher prints with
exit code 2. :func:`run_app` runs an ``@hydra.main`` app inside it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genomamba.errors import ConfigError, GenomambaError
from genomamba.outputs import check_run_dir, check_run_name, hold_run_dir, is_launch_rank_zero

if TYPE_CHECKING:
    from omegaconf import DictConfig


@contextmanager
def app_errors() -> Iterator[None]:
    """The body of an ``@hydra.main`` app: exceptions leave as an exit code with one line, never as
    Hydra's traceback report (a genomamba error: exit 2; Ctrl-C: 130; a bug: 1, traceback in a file)."""
    from genomamba.apps.quiet import crash_line, debugging

    try:
        yield
    except GenomambaError as e:
        # SystemExit is not caught by Hydra's error reporting: one line, no traceback.
        print(f"genomamba: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ngenomamba: interrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        if debugging():
            raise
        print(crash_line(e), file=sys.stderr)
        sys.exit(1)


def run_hydra_main(script: str, hydra_main: Callable[[], None], argv: Sequence[str]) -> None:
    """Call ``hydra_main`` (an ``@hydra.main`` function) as if ``script argv...`` had been run.

    Hydra parses ``sys.argv``; Lightning's DDP launcher re-runs ``sys.argv[0]`` for extra
    ranks, so ``sys.argv[0]`` is the app module itself (runnable as a script) rather than the
    ``genomamba`` console script.
    """
    saved = sys.argv
    sys.argv = [script, *argv]
    try:
        hydra_main()
    finally:
        sys.argv = saved


def config_error_line(e: BaseException, command: str) -> str:
    """Hydra / OmegaConf errors as one line, with the failing key (``full_key``) and the cause."""
    levels: list[str] = []
    key = None
    err: BaseException | None = e
    while err is not None:
        lines: list[str] = []
        for ln in str(getattr(err, "msg", None) or err).splitlines():
            ln = ln.strip()
            if ln.startswith("Config search path"):
                break
            if ln and not ln.startswith(("full_key", "object_type", "reference_type")):
                lines.append(ln)
        text = " ".join(lines).rstrip(":;")
        if text and text not in levels:
            levels.append(text)
        key = getattr(err, "full_key", None) or key
        err = err.__cause__
    where = f" (key {key})" if key else ""
    return ": ".join(levels) + where + f"; see `genomamba {command} --help` for the config groups and keys"


@contextmanager
def config_errors(command: str) -> Iterator[None]:
    """Hydra / OmegaConf errors raised in the block as a one-line :class:`ConfigError`; Hydra's
    global state cleared after it (the app initialises Hydra afresh)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(config_error_line(e, command)) from None
    finally:
        GlobalHydra.instance().clear()


def run_dir_of(cfg: DictConfig) -> Path:
    """The run directory of a composed config, checked: ``name`` is one folder name when the run
    directory is made from it (``runs/${name}``), and the directory can be created and written."""
    from omegaconf import OmegaConf

    if "${name}" in str(OmegaConf.to_container(cfg, resolve=False).get("run_dir")):
        check_run_name(cfg.get("name"))
    return check_run_dir(Path(cfg.run_dir).resolve())


@contextmanager
def prepared_run(command: str, compose: Callable[[], DictConfig], check: Callable[[DictConfig], None]) -> Iterator[DictConfig]:
    """Compose the config, check the run directory, hold it (launch rank 0; a second run into it
    stops here), run ``check`` (the command's own checks), then yield the config with the run
    directory held for the block. Nothing but the lock is written before the block.

    ``command`` names the ``--help`` to point at in config errors (``train`` for the demo too,
    which takes the same overrides).

    Raises:
        GenomambaError: one line naming the key, file or run directory and the fix.
    """
    with config_errors(command):
        cfg = compose()
        run_dir = run_dir_of(cfg)
    with hold_run_dir(run_dir) if is_launch_rank_zero() else nullcontext():
        with config_errors(command):
            check(cfg)
        yield cfg


def run_app(
    command: str, argv: Sequence[str], compose: Callable[[Sequence[str]], DictConfig], check: Callable[[DictConfig], None],
    script: str, hydra_main: Callable[[], None],
) -> int:
    """Run the ``@hydra.main`` app ``hydra_main`` (module file ``script``) with ``argv`` inside
    :func:`prepared_run`; returns the exit code (2, with one line on stderr, when the preflight
    refuses the run). Hydra's own flags (``--help``, ``--cfg``, ``-m``
    ...) go straight to Hydra, except ``--help``, which :func:`app_help` answers faster."""
    if wants_help(argv):
        return app_help(command, argv, compose)
    if any(a.startswith("-") for a in argv):
        return _exit_code(script, hydra_main, argv)
    try:
        with prepared_run(command, lambda: compose(argv), check):
            return _exit_code(script, hydra_main, argv)
    except GenomambaError as e:  # from the preflight: nothing written
        print(f"genomamba: error: {e}", file=sys.stderr)
        return 2


def _exit_code(script: str, hydra_main: Callable[[], None], argv: Sequence[str]) -> int:
    try:
        run_hydra_main(script, hydra_main, argv)
    except SystemExit as e:  # Hydra's --help / --cfg, or the app's error exit
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    return 0


def wants_help(argv: Sequence[str]) -> bool:
    """True for ``--help`` / ``-h`` among a Hydra app's arguments (not Hydra's own ``--hydra-help``)."""
    return any(a in ("--help", "-h") for a in argv)


def app_help(command: str, argv: Sequence[str], compose: Callable[[list[str]], Any]) -> int:
    """``genomamba <command> --help [overrides]``: the app's ``hydra.help.template`` with the
    composed config in place of ``$CONFIG``, as Hydra prints it, in a fraction of the time: Hydra
    also lists every config group for ``$APP_CONFIG_GROUPS`` / ``$HYDRA_CONFIG_GROUPS`` (composing
    the config repository once per option, seconds), which our templates do not use (they list
    the user-facing groups themselves). Returns the exit code."""
    import string

    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = compose([a for a in argv if not a.startswith("-")])
    except (HydraException, OmegaConfBaseException) as e:
        print(f"genomamba: error: {config_error_line(e, command)}", file=sys.stderr)
        return 2
    finally:
        GlobalHydra.instance().clear()
    config = OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
    print(string.Template(cfg.hydra.help.template).safe_substitute(CONFIG=config, APP_CONFIG_GROUPS="", HYDRA_CONFIG_GROUPS=""))
    return 0
