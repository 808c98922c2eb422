"""Test setup for the selective-scan tests.

Without CUDA the Triton kernels run on CPU tensors through the Triton interpreter. Triton reads
``TRITON_INTERPRET`` when a kernel is decorated, so it is set here, at import time, before any
test imports ``genomamba.kernels.triton_scan``. ``torch.cuda.is_available()`` only counts devices;
it does not create a CUDA context.
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
