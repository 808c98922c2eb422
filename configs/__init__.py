"""Hydra configs, installed as ``genomamba.configs`` (``pkg://genomamba.configs``).

Imported as a top-level ``configs`` (Python started in the repository root), this folder hands the
name over to an installed package of that name, or fails as if it were not there
(:mod:`genomamba._toplevel`).
"""

if __name__ != "genomamba.configs":
    from genomamba._toplevel import hand_over

    hand_over(__name__, __file__)
