"""Checks of optimiser settings, torch-free: ``genomamba train`` and ``genomamba finetune`` run
them in the preflight, before torch is imported, and the LightningModules run them again when
built from Python."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from genomamba.errors import ConfigError

__all__ = ["check_optimizer_settings"]


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def check_optimizer_settings(settings: Mapping[str, Any], prefix: str = "module.") -> None:
    """ConfigError naming the key (``prefix`` + name) for an AdamW / schedule setting that torch
    would refuse deep inside ``fit`` or that would train nothing: a learning rate that is not a
    finite number > 0, a negative weight decay, betas outside [0, 1), eps <= 0, a negative
    warm-up, a final-LR ratio outside [0, 1]. Settings absent from ``settings`` are not checked.
    """
    def bad(name: str, want: str, example: str) -> ConfigError:
        return ConfigError(f"{prefix}{name} must be {want}, got {settings[name]!r}; e.g. {prefix}{name}={example}")

    for name in ("lr", "backbone_lr"):
        if name in settings and not (settings[name] is None and name == "backbone_lr"):
            if not _is_number(settings[name]) or settings[name] <= 0:
                raise bad(name, "a finite number > 0", "1e-3")
    if "weight_decay" in settings and (not _is_number(settings["weight_decay"]) or settings["weight_decay"] < 0):
        raise bad("weight_decay", "a finite number >= 0", "0.1")
    if "eps" in settings and (not _is_number(settings["eps"]) or settings["eps"] <= 0):
        raise bad("eps", "a finite number > 0", "1e-8")
    if "betas" in settings:
        betas = settings["betas"]
        if isinstance(betas, str) or not hasattr(betas, "__len__") or len(betas) != 2 or not all(
                _is_number(b) and 0 <= b < 1 for b in betas):
            raise bad("betas", "two numbers in [0, 1)", "[0.9,0.95]")
    if "warmup_steps" in settings:
        w = settings["warmup_steps"]
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise bad("warmup_steps", "an integer >= 0", "100")
    if "min_lr_ratio" in settings and (not _is_number(settings["min_lr_ratio"]) or not 0 <= settings["min_lr_ratio"] <= 1):
        raise bad("min_lr_ratio", "a number in [0, 1]", "0.1")
