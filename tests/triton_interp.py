"""Speed for Triton-interpreter tests: a vectorised stand-in for the interpreter's scan.

The Triton interpreter (``TRITON_INTERPRET=1``) runs ``tl.associative_scan`` element by element,
one Python call of the combine per element; a kernel with several chunks and states then takes
minutes. ``fast_interpreter_scan`` swaps in the same scan done in log2(n) whole-array steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


def log_step_interpreter_scan(swap_reverse_operands: bool = False):
    """A stand-in for the Triton interpreter's element-by-element ``generic_scan`` (one Python call of
    the combine per element): the same inclusive scan in log2(n) vectorised steps (Hillis-Steele,
    y_i <- combine(y_{i-k}, y_i), the earlier segment always the first operand, as the interpreter
    does), so that kernel tests with several chunks and states run in seconds. Results equal the
    element-by-element scan up to float rounding (it re-associates an associative combine).

    ``swap_reverse_operands``: for reverse scans, pass the two operands in the other order (the later
    segment second), the operand-order bug triton-lang/triton#4362 reports for GPUs: a kernel whose
    reverse scan is right under both orders does not depend on it.

    Returns the replacement for ``triton.runtime.interpreter.ScanOps.generic_scan``.
    """
    import numpy as np

    def generic_scan(self, inputs):
        axis = self.axis
        dtypes = [t.dtype for t in inputs]
        acc = [np.ascontiguousarray(t.handle.data) for t in inputs]
        length = acc[0].shape[axis]

        pos = np.arange(length).reshape([-1 if i == axis else 1 for i in range(acc[0].ndim)])
        k = 1
        while k < length:
            # Whole-array steps (the interpreter's blocks must keep power-of-two shapes): the combine
            # also runs on the wrapped-around first k positions, whose results are discarded.
            earlier = tuple(self.to_tensor(np.roll(a, k, axis=axis), dt) for a, dt in zip(acc, dtypes, strict=True))
            later = tuple(self.to_tensor(a, dt) for a, dt in zip(acc, dtypes, strict=True))
            with np.errstate(all="ignore"):
                swap = swap_reverse_operands and self.reverse
                ret = self.combine_fn.fn(*(later + earlier)) if swap else self.combine_fn.fn(*(earlier + later))
            ret = ret if isinstance(ret, tuple) else (ret,)
            acc = [np.where(pos >= k, r.handle.data, a) for a, r in zip(acc, ret, strict=True)]
            k *= 2
        return [self.to_tensor(a, dt) for a, dt in zip(acc, dtypes, strict=True)]

    return generic_scan


@contextlib.contextmanager
def fast_interpreter_scan(swap_reverse_operands: bool = False) -> Iterator[None]:
    """Within the block, the interpreter's ``generic_scan`` is :func:`log_step_interpreter_scan`'s."""
    from triton.runtime import interpreter

    saved = interpreter.ScanOps.generic_scan
    interpreter.ScanOps.generic_scan = log_step_interpreter_scan(swap_reverse_operands)
    try:
        yield
    finally:
        interpreter.ScanOps.generic_scan = saved
