"""Structured-config schemas generated from the code's own signatures.

The YAML files state only what differs from the code defaults, yet users must be able to
override any argument (``data.window_length=2048``, ``module.lr=1e-3``, ``trainer.precision=bf16-mixed``)
and a typo must fail. So each instantiated node (``data``, ``model``, ``module``, ``trainer``)
is first given a schema whose keys and defaults are read from the target's signature
(``inspect.signature`` / ``dataclasses.fields``); the group's YAML is merged on top in
struct mode. Defaults thus live only in code.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

_PRIMITIVE = (type(None), bool, int, float, str)
_SCALARS = (int, float, bool)

# Arguments passed in code (derived values or built objects), never configured in YAML.
_EXCLUDE: dict[str, set[str]] = {
    "module": {"model_config", "model", "mask_token_id"},
    "trainer": {"callbacks", "logger", "plugins", "default_root_dir"},
}


def _yaml_default(value: Any) -> tuple[bool, Any]:
    """(representable, value) for a default; tuples become lists."""
    if value is inspect.Parameter.empty or value is dataclasses.MISSING:
        return True, MISSING
    if isinstance(value, _PRIMITIVE):
        return True, value
    if isinstance(value, list | tuple) and all(isinstance(v, _PRIMITIVE) for v in value):
        return True, list(value)
    return False, None


def _field_type(annotation: Any) -> Any:
    """``int`` / ``float`` / ``bool`` (or ``Optional`` of one) when that is exactly the
    annotation, else ``Any``. Typed fields make OmegaConf reject ``trainer.max_steps=abc``
    at composition, naming the key, instead of a traceback deep inside Lightning or torch."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if annotation in _SCALARS:
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1 and args[0] in _SCALARS:
        return typing.Optional[args[0]]  # noqa: UP045 (OmegaConf needs typing.Optional)
    return Any


def _hints(target: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(target if dataclasses.is_dataclass(target) else getattr(target, "__init__", target))
    except Exception:  # unresolvable forward references in a third-party signature: leave untyped
        return {}


def signature_schema(target: Callable[..., Any], target_path: str, exclude: set[str] = frozenset()) -> type:
    """A dataclass with ``_target_`` plus one field per configurable argument, typed ``int`` /
    ``float`` / ``bool`` where the signature says exactly that (see :func:`_field_type`), else ``Any``."""
    fields: list[tuple[str, Any, Any]] = [("_target_", str, dataclasses.field(default=target_path))]
    if dataclasses.is_dataclass(target):
        params = [
            (f.name, f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
            for f in dataclasses.fields(target)
        ]
    else:
        params = [
            (p.name, p.default)
            for p in inspect.signature(target).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
    hints = _hints(target)
    for name, default in params:
        if name in exclude or name == "self":
            continue
        ok, value = _yaml_default(default)
        if not ok:
            continue
        kind = _field_type(hints.get(name, Any))
        if value is None and kind is not Any and typing.get_origin(kind) is None:
            kind = typing.Optional[kind]  # noqa: UP045
        fields.append((name, kind, dataclasses.field(default_factory=lambda v=value: v)))
    name = target_path.rsplit(".", 1)[-1] + "Schema"
    return dataclasses.make_dataclass(name, fields)


def register_schemas() -> None:
    """Store ``schema/{data,model,module,trainer}: default`` in Hydra's ConfigStore (idempotent)."""
    import lightning as L

    from genomamba.data import GenomeDataModule
    from genomamba.models import GenomambaConfig
    from genomamba.training.lit_module import GenomambaLitModule

    targets = {
        "data": (GenomeDataModule, "genomamba.data.GenomeDataModule"),
        "model": (GenomambaConfig, "genomamba.models.GenomambaConfig"),
        "module": (GenomambaLitModule, "genomamba.training.lit_module.GenomambaLitModule"),
        "trainer": (L.Trainer, "lightning.Trainer"),
    }
    cs = ConfigStore.instance()
    for group, (target, path) in targets.items():
        cs.store(group=f"schema/{group}", name="default", node=signature_schema(target, path, _EXCLUDE.get(group, set())))
