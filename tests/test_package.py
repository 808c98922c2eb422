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


def _python_in_repo_root(code: str, *flags: str) -> subprocess.CompletedProcess:
    # A fresh interpreter started in the repository root, as `python -m pytest` or a notebook is:
    # the root is sys.path[0], so its top-level folders are candidates for top-level names.
    return subprocess.run([sys.executable, *flags, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)


def test_transformers_mamba_loads_from_the_repository_root():
    # transformers imports Hugging Face's `kernels`; the repository's kernels/ folder must not shadow it.
    hf_kernels = importlib.metadata.distribution("kernels")  # installed with transformers (dev extra)
    run = _python_in_repo_root(
        "import kernels, transformers; print(kernels.__file__); print(transformers.MambaForCausalLM.__name__)"
    )
    assert run.returncode == 0, run.stderr
    kernels_file, mamba = run.stdout.split()
    assert mamba == "MambaForCausalLM"
    assert Path(kernels_file).resolve() == Path(hf_kernels.locate_file("kernels/__init__.py")).resolve()


def test_source_folders_are_not_top_level_packages_from_the_repository_root():
    # Without another project's package of the same name, the folders behave as if absent: the
    # repository's kernels and configs are reachable only as genomamba.kernels / genomamba.configs.
    code = (
        "import sys; full_path = list(sys.path); sys.path = [p for p in sys.path if 'site-packages' not in p]\n"
        "for name in ('kernels', 'configs', 'kernels.cpu_scan'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ModuleNotFoundError as e:\n"
        "        print(name, 'absent', e.name, name.split('.')[0] in sys.modules)\n"
        "    else:\n"
        "        print(name, 'IMPORTED')\n"
        "sys.path = full_path\n"
        "import genomamba.kernels, genomamba.configs\n"
        "print(genomamba.kernels.selective_scan.__module__)\n"
    )
    run = _python_in_repo_root(code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "kernels absent kernels False",
        "configs absent configs False",
        "kernels.cpu_scan absent kernels False",
        "genomamba.kernels.dispatch",
    ]


def test_every_config_group_is_listed_as_a_package():
    # setuptools warns for (and may drop) data folders missing from the explicit package list.
    import tomllib

    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    groups = {p.name for p in (REPO_ROOT / "configs").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert groups and {f"genomamba.configs.{g}" for g in groups} <= listed
    # Every folder of genomamba/ that Python could import (the shipped models' genomamba/pretrained
    # among them, a data-only folder) is listed too: setuptools warns at install for one that is not.
    folders = {
        ".".join(p.relative_to(REPO_ROOT).parts) for p in (REPO_ROOT / "genomamba").rglob("*")
        if p.is_dir() and p.name.isidentifier() and "__pycache__" not in p.parts
    }
    assert "genomamba.pretrained" in folders and folders <= listed, sorted(folders - listed)
