"""Selective-scan kernels for genomamba, installed as ``genomamba.kernels``.

Public API:
    selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, initial_state=None, backend="auto")
    selective_state_update(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False)
    selective_scan_ref / selective_state_update_ref: the pure-PyTorch definitions.
    causal_conv_silu(x, weight, bias=None, prev=None): the mixer's conv + silu (fused on CPU).

This folder is importable only as ``genomamba.kernels``: imported as a top-level ``kernels`` (Python
started in the repository root), it hands the name over to the installed package of that name,
Hugging Face's, which transformers imports (:mod:`genomamba._toplevel`).
"""

if __name__ != "genomamba.kernels":
    from genomamba._toplevel import hand_over

    hand_over(__name__, __file__)
else:
    from genomamba.kernels.dispatch import causal_conv_silu, selective_scan, selective_state_update
    from genomamba.kernels.reference import selective_scan_ref, selective_state_update_ref

    __all__ = [
        "causal_conv_silu", "selective_scan", "selective_state_update", "selective_scan_ref", "selective_state_update_ref",
    ]
