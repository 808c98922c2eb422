import importlib
import importlib.util

import genomamba


def test_version_is_a_string():
    assert isinstance(genomamba.__version__, str) and genomamba.__version__.count(".") >= 1


def test_kernels_install_under_genomamba_and_not_top_level():
    assert importlib.import_module("genomamba.kernels").__name__ == "genomamba.kernels"
    # `kernels` is another PyPI project's name (probed by transformers): we must not shadow it.
    spec = importlib.util.find_spec("kernels")
    assert spec is None or "genomamba" not in str(spec.origin)
