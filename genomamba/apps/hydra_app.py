"""What the Hydra applications (``genomamba train``, ``genomamba finetune``) share: running an
``@hydra.main`` function from the dispatcher, and Hydra / OmegaConf errors as one line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from genomamba.errors import GenomambaError


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


def preflight_error(command: str, overrides: Sequence[str], check: Callable[[], None]) -> str | None:
    """Run ``check`` (compose the config and check the run's inputs) before Hydra creates the run
    directory; the one-line message of its config or genomamba error, or None when the run may
    start. Hydra's own flags (``--help``, ``-m``, ``--cfg`` ...) are left to Hydra, unchecked."""
    if any(a.startswith("-") for a in overrides):
        return None
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        check()
    except (HydraException, OmegaConfBaseException) as e:
        return config_error_line(e, command)
    except GenomambaError as e:
        return str(e)
    finally:
        GlobalHydra.instance().clear()  # the app initialises Hydra afresh
    return None


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
