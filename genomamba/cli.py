"""Deprecated module path, kept for one release: the console script lives in :mod:`genomamba.apps.cli`."""

from __future__ import annotations

import sys
import warnings

from genomamba.apps.cli import main

__all__ = ["main"]

warnings.warn(
    "genomamba.cli is deprecated and will be removed in the next release; use genomamba.apps.cli",
    DeprecationWarning,
    stacklevel=2,
)

if __name__ == "__main__":
    sys.exit(main())
