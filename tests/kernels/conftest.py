"""Test setup for the selective-scan tests.

``TRITON_INTERPRET=1`` (Triton kernels on CPU tensors when there is no CUDA) is set in the root
``tests/conftest.py``, which pytest imports before any test module, because Triton reads it when
``triton.language`` is first imported and other packages may import triton during collection.
"""
