"""The config schemas kept in genomamba/training/signatures.json: current, equal to what the code's
signatures give, and used (no torch imported) while current."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from genomamba.downstream.finetune import FINETUNE_SCHEMAS
from genomamba.training import schema
from genomamba.training.schema import SCHEMAS, frozen_entry, signature_digest, stale_schemas

ALL = {**SCHEMAS, **FINETUNE_SCHEMAS}


def test_signatures_file_is_current_and_equals_the_code() -> None:
    """Fails after an argument of a configured class changed: run `make schemas`."""
    assert stale_schemas(ALL) == [], "genomamba/training/signatures.json is stale: run `make schemas`"
    stored = json.loads(schema.SIGNATURES_FILE.read_text())["schemas"]
    assert set(stored) == set(ALL)
    for group, (target, exclude) in ALL.items():
        assert stored[group] == frozen_entry(target, exclude), f"{group}: run `make schemas`"


def test_a_changed_signature_is_stale_and_read_from_the_code(tmp_path: Path, monkeypatch) -> None:
    # A copy of the data module's source with one more argument: the digest no longer matches.
    entry = json.loads(schema.SIGNATURES_FILE.read_text())["schemas"]["schema/data"]
    top, relative, name = entry["source"]
    src = Path(__import__(top).__file__).parent / relative
    edited = src.read_text().replace("        window_length: int = 1024,", "        window_length: int = 1024,\n        extra: int = 3,", 1)
    assert edited != src.read_text()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "dm.py").write_text(edited)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert signature_digest(["pkg", "dm.py", name]) != entry["digest"]
    assert signature_digest(["pkg", "dm.py", "NoSuchClass"]) is None
    assert signature_digest(["no_such_package_xyz", "dm.py", name]) is None
    # A stale entry makes the schema come from the code, with the same fields as the file gives.
    monkeypatch.setattr(schema, "_frozen", lambda: {"schema/data": {**entry, "digest": "stale"}})
    schema._schema_node.cache_clear()
    try:
        assert stale_schemas({"schema/data": SCHEMAS["schema/data"]}) == ["schema/data"]
        live = schema._schema_node("schema/data", *SCHEMAS["schema/data"])
    finally:
        schema._schema_node.cache_clear()
    frozen = schema.schema_class(SCHEMAS["schema/data"][0], (tuple(f) for f in entry["fields"]))
    assert _fields(live) == _fields(frozen)


def _fields(cls: type) -> list[tuple]:
    return [(f.name, f.type, f.default if f.default_factory is dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(cls)]


def test_composing_train_and_finetune_configs_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from genomamba.training.compose import compose_config\n"
        "from genomamba.downstream.finetune import compose_finetune\n"
        "cfg = compose_config(['model=hybrid', 'trainer.max_steps=7'])\n"
        "assert cfg.trainer.max_steps == 7 and cfg.data.window_length == 1024, cfg.trainer\n"
        "assert compose_finetune(['model.path=x']).finetune.head == 'linear'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
