"""What the Hydra applications (``genomamba train``, ``genomamba finetune``) share: running an
``@hydra.main`` function from the dispatcher, and Hydra / OmegaConf errors as one line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


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
