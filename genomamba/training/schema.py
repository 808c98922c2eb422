"""Structured-config schemas generated from the code's own signatures.

The YAML files state only what differs from the code defaults, yet users must be able to
override any argument (``data.window_length=2048``, ``module.lr=1e-3``, ``trainer.precision=bf16-mixed``)
and a typo must fail. So each instantiated node (``data``, ``model``, ``module``, ``trainer``)
is first given a schema whose keys and defaults are read from the target's signature
(``inspect.signature`` / ``dataclasses.fields``); the group's YAML is merged on top in
struct mode. Defaults thus live only in code.

Reading a signature means importing its class, and so torch and Lightning (seconds). The fields
read are therefore also kept in ``signatures.json`` beside this module, each with a digest of the
signature's source text (:func:`signature_digest`, from the file alone, nothing imported): a
schema whose digest still matches is built from the file, so ``genomamba train --help`` and the
preflight checks compose the config without torch; a stale one is read from the code as before.
``make schemas`` rewrites the file; ``tests/training/test_schema.py`` fails while it is stale.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.util
import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from genomamba.outputs import write_json

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


def signature_fields(target: Callable[..., Any], exclude: Iterable[str] = ()) -> list[tuple[str, str, Any]]:
    """The configurable arguments of ``target``: ``(name, kind, default)`` with ``kind`` one of
    ``int`` / ``float`` / ``bool`` where the signature says exactly that (see :func:`_field_type`),
    the same with a trailing ``?`` when None is allowed, else ``Any``; ``default`` is
    ``"???"`` (OmegaConf's MISSING) for a required argument."""
    exclude = set(exclude)
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
    fields: list[tuple[str, str, Any]] = []
    for name, default in params:
        if name in exclude or name == "self":
            continue
        ok, value = _yaml_default(default)
        if not ok:
            continue
        kind = _field_type(hints.get(name, Any))
        if kind is Any:
            fields.append((name, "Any", value))
            continue
        scalar = next(a for a in (kind, *typing.get_args(kind)) if a in _SCALARS)
        optional = typing.get_origin(kind) is not None or value is None
        fields.append((name, scalar.__name__ + ("?" if optional else ""), value))
    return fields


_KINDS: dict[str, Any] = {
    "Any": Any,
    **{t.__name__: t for t in _SCALARS},
    **{f"{t.__name__}?": typing.Optional[t] for t in _SCALARS},  # noqa: UP045 (OmegaConf needs typing.Optional)
}


def schema_class(target_path: str, fields: Iterable[tuple[str, str, Any]]) -> type:
    """A dataclass with ``_target_`` plus one field per ``(name, kind, default)`` of :func:`signature_fields`."""
    spec: list[tuple[str, Any, Any]] = [("_target_", str, dataclasses.field(default=target_path))]
    for name, kind, value in fields:
        spec.append((name, _KINDS[kind], dataclasses.field(default_factory=lambda v=value: v)))
    return dataclasses.make_dataclass(target_path.rsplit(".", 1)[-1] + "Schema", spec)


def signature_schema(target: Callable[..., Any], target_path: str, exclude: Iterable[str] = frozenset()) -> type:
    """A dataclass with ``_target_`` plus one field per configurable argument, typed ``int`` /
    ``float`` / ``bool`` where the signature says exactly that (see :func:`_field_type`), else ``Any``."""
    return schema_class(target_path, signature_fields(target, exclude))


# Every node whose keys come from a signature: ConfigStore group -> (``_target_``, arguments passed
# in code rather than configured). genomamba.downstream.finetune adds the fine-tuning ones.
SCHEMAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "schema/data": ("genomamba.data.GenomeDataModule", ()),
    "schema/model": ("genomamba.models.GenomambaConfig", ()),
    "schema/module": ("genomamba.training.lit_module.GenomambaLitModule", tuple(sorted(_EXCLUDE["module"]))),
    "schema/trainer": ("lightning.Trainer", tuple(sorted(_EXCLUDE["trainer"]))),
}

SIGNATURES_FILE = Path(__file__).with_name("signatures.json")


def signature_source(target: Any) -> tuple[str, str, str]:
    """Where ``target``'s signature is written: ``(top-level package, file inside it, name)``."""
    top = target.__module__.split(".")[0]
    root = Path(importlib.util.find_spec(top).submodule_search_locations[0])  # type: ignore[union-attr,index]
    return top, Path(inspect.getsourcefile(target)).resolve().relative_to(root.resolve()).as_posix(), target.__qualname__


def signature_digest(source: Iterable[str]) -> str | None:
    """A digest of the text that defines a signature, read from the source file without importing
    it: a function's arguments; a class's bases, decorators, annotated fields and ``__init__``
    arguments. None when the file or the name is not found (the schema is then read from the code)."""
    top, relative, name = source
    try:
        spec = importlib.util.find_spec(top)  # a top-level package: found, not imported
        root = Path(spec.submodule_search_locations[0])  # type: ignore[union-attr,index]
        tree = ast.parse((root / relative).read_text())
    except (ImportError, AttributeError, TypeError, IndexError, OSError, SyntaxError, ValueError):
        return None
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef) and n.name == name), None)
    if node is None:
        return None
    if isinstance(node, ast.FunctionDef):
        parts: list[ast.AST] = [node.args]
    else:
        parts = [*node.bases, *node.decorator_list]
        parts += [n for n in node.body if isinstance(n, ast.AnnAssign)]
        parts += [n.args for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    text = "\n".join(ast.dump(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def frozen_entry(target_path: str, exclude: Iterable[str]) -> dict[str, Any]:
    """What ``signatures.json`` keeps for one schema (reads the signature: imports the target)."""
    from hydra.utils import get_object

    target = get_object(target_path)
    source = signature_source(target)
    return {
        "target": target_path,
        "exclude": sorted(exclude),
        "source": list(source),
        "digest": signature_digest(source),
        "fields": [list(f) for f in signature_fields(target, exclude)],
    }


@functools.cache
def _frozen() -> dict[str, Any]:
    try:
        return json.loads(SIGNATURES_FILE.read_text())["schemas"]
    except (OSError, ValueError, KeyError):
        return {}


def _current_entry(group: str, target_path: str, exclude: Iterable[str]) -> dict[str, Any] | None:
    """``signatures.json``'s entry for ``group`` if it describes the code as it is now, else None."""
    entry = _frozen().get(group)
    if entry is None or entry["target"] != target_path or entry["exclude"] != sorted(exclude):
        return None
    digest = signature_digest(entry["source"])
    return entry if digest is not None and digest == entry["digest"] else None


@functools.cache
def _schema_node(group: str, target_path: str, exclude: tuple[str, ...]) -> type:
    entry = _current_entry(group, target_path, exclude)
    if entry is not None:
        return schema_class(target_path, (tuple(f) for f in entry["fields"]))
    from hydra.utils import get_object

    return signature_schema(get_object(target_path), target_path, exclude)


def stale_schemas(schemas: Mapping[str, tuple[str, tuple[str, ...]]]) -> list[str]:
    """The groups of ``schemas`` that ``signatures.json`` lacks or holds stale (nothing imported)."""
    return [group for group, (path, exclude) in schemas.items() if _current_entry(group, path, exclude) is None]


def write_signatures(schemas: Mapping[str, tuple[str, tuple[str, ...]]], path: Path = SIGNATURES_FILE) -> Path:
    """Write ``signatures.json`` for ``schemas`` (``make schemas``; imports every target)."""
    about = "written by `make schemas` (genomamba.training.schema.write_signatures); read by register_signature_schemas"
    entries = {group: frozen_entry(target, exclude) for group, (target, exclude) in sorted(schemas.items())}
    write_json(path, {"about": about, "schemas": entries}, option="signatures", indent=1)
    _frozen.cache_clear()
    _schema_node.cache_clear()
    return path


def register_signature_schemas(schemas: Mapping[str, tuple[str, tuple[str, ...]]]) -> None:
    """Store each ``group: (target, exclude)`` as ``<group>: default`` in Hydra's ConfigStore
    (idempotent): from ``signatures.json`` while it is current, else from the code."""
    cs = ConfigStore.instance()
    for group, (target_path, exclude) in schemas.items():
        cs.store(group=group, name="default", node=_schema_node(group, target_path, tuple(exclude)))


def register_schemas() -> None:
    """Store ``schema/{data,model,module,trainer}: default`` in Hydra's ConfigStore (idempotent)."""
    register_signature_schemas(SCHEMAS)
