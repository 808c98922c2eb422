"""Selective-scan kernels for genomamba, installed as ``genomamba.kernels``.

Public API:
    selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, initial_state=None, backend="auto")
    selective_state_update(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False)
    selective_scan_ref / selective_state_update_ref: the pure-PyTorch definitions.
"""

from genomamba.kernels.dispatch import selective_scan, selective_state_update
from genomamba.kernels.reference import selective_scan_ref, selective_state_update_ref

__all__ = [
    "selective_scan",
    "selective_state_update",
    "selective_scan_ref",
    "selective_state_update_ref",
]
