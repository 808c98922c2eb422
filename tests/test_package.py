import importlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import genomamba

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_version_is_a_string():
    assert isinstance(genomamba.__version__, str) and genomamba.__version__.count(".") >= 1


def test_kernels_install_under_genomamba_and_not_top_level(tmp_path):
    kernels = importlib.import_module("genomamba.kernels")
    assert kernels.__name__ == "genomamba.kernels"
    # The installed distribution declares one top-level package (wheel or editable install alike).
    top_level = importlib.metadata.distribution("genomamba").read_text("top_level.txt")
    assert top_level is not None and top_level.split() == ["genomamba"]
    # `kernels` is another PyPI project's name (probed by transformers): the installed genomamba must
    # not make it importable. Probe in a fresh interpreter run from an empty directory with -P, so
    # the checkout (whatever its folder is called) is not on sys.path: only what is installed counts.
    probe = (
        "import importlib.util, sys; s = importlib.util.find_spec('kernels'); "
        "print(s.origin if s and s.origin else (list(s.submodule_search_locations) if s else 'absent'))"
    )
    out = subprocess.run(
        [sys.executable, "-P", "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    if out != "absent":  # another project's `kernels` may be installed; it must not be ours
        assert str(Path(kernels.__file__).resolve().parent) not in out, out
    # From the same clean interpreter, genomamba.kernels resolves to this checkout's kernels/.
    where = subprocess.run(
        [sys.executable, "-P", "-c", "import genomamba.kernels as k; print(k.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(where).resolve().parent == Path(kernels.__file__).resolve().parent


def test_every_config_group_is_listed_as_a_package():
    # setuptools warns for (and may drop) data folders missing from the explicit package list.
    import tomllib

    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    groups = {p.name for p in (REPO_ROOT / "configs").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert groups and {f"genomamba.configs.{g}" for g in groups} <= listed
