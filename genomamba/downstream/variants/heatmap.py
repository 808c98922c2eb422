"""The saturation-mutagenesis picture: LLR heatmap (position x ALT base) over a gene track."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

import numpy as np

__all__ = ["plot_mutagenesis"]

_BASES = "ACGT"


def _llr_matrix(rows: Sequence[dict[str, Any]], start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(4, n) LLR of each ALT base at each position (NaN for REF and unscored) and (n,) REF index."""
    llr = np.full((4, n), np.nan)
    ref = np.full(n, -1)
    for r in rows:
        i = r["pos"] - 1 - start
        ref[i] = _BASES.index(r["ref"])
        if r["status"] == "ok":
            llr[_BASES.index(r["alt"]), i] = r["score"]
    return llr, ref


def plot_mutagenesis(
    rows: Sequence[dict[str, Any]], region: Any, genes: Sequence[Any], out: str | IO[bytes], title: str | None = None,
) -> None:
    """Write a PNG to ``out``: the LLR of every SNV as a heatmap (x: position, y: ALT base, REF
    cells grey; diverging colours centred on 0, red = damaging), above a track of the ``genes``
    overlapping the region (objects with ``start``, ``end``, ``strand`` +1/-1 and ``id``; drawn as
    arrows) whose codon positions 1, 2, 3 are marked by a strip under each gene."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap, TwoSlopeNorm

    n = region.end - region.start
    llr, ref = _llr_matrix(rows, region.start, n)
    finite = llr[np.isfinite(llr)]
    lim = float(np.nanpercentile(np.abs(finite), 99)) if finite.size else 1.0
    lim = max(lim, 1e-6)
    width = min(16.0, max(6.0, n / 25))
    fig, (ax, gx) = plt.subplots(2, 1, figsize=(width, 3.6), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    x0, x1 = region.start + 0.5, region.end + 0.5  # 1-based base centres at integer x
    img = ax.imshow(llr, aspect="auto", interpolation="nearest", cmap="RdBu",
                    norm=TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim), extent=(x0, x1, 3.5, -0.5))
    is_ref = np.zeros((4, n))
    is_ref[ref[ref >= 0], np.flatnonzero(ref >= 0)] = 1
    ax.imshow(np.where(is_ref > 0, 1.0, np.nan), aspect="auto", interpolation="nearest",
              cmap=ListedColormap(["#bdbdbd"]), extent=(x0, x1, 3.5, -0.5))
    ax.set_yticks(range(4), list(_BASES))
    ax.set_ylabel("ALT base")
    ax.set_title(title or f"saturation mutagenesis {region}: LLR (ALT vs REF), grey = REF base", fontsize=10)
    fig.colorbar(img, ax=[ax, gx], fraction=0.02, pad=0.01, label="LLR (nats)")
    # gene track: one lane per overlapping gene, arrow in the coding direction, codon-position strip
    phase_colours = {0: "#1b9e77", 1: "#d95f02", 2: "#7570b3"}
    for lane, g in enumerate(sorted(genes, key=lambda g: g.start)[:6]):
        y = lane % 2
        s, e = max(g.start, region.start), min(g.end, region.end)
        length = e - s
        head = min(length * 0.5, max(1.0, n * 0.02))
        tail = s + 0.5 if g.strand > 0 else e + 0.5
        gx.arrow(tail, y, (length - head) if g.strand > 0 else -(length - head), 0, width=0.3, head_width=0.6,
                 head_length=head, length_includes_head=False, color="#555555")
        gx.text(s + 1, y - 0.35, f"{g.id.rsplit('_', 1)[-1]} ({'+' if g.strand > 0 else '-'})", fontsize=7,
                va="bottom")
        pos = np.arange(s, e)
        coding = (pos - g.start) if g.strand > 0 else (g.end - 1 - pos)
        for phase, colour in phase_colours.items():
            sel = pos[coding % 3 == phase] + 0.5  # one coloured cell per base under the arrow
            gx.broken_barh([(x, 1.0) for x in sel], (y + 0.28, 0.2), facecolors=colour)
    for phase, colour in phase_colours.items():
        gx.plot([], [], color=colour, label=f"codon position {phase + 1}")
    if genes:
        gx.legend(loc="lower right", fontsize=7, ncol=3, frameon=False)
    gx.set_ylim(1.8, -0.8)
    gx.ticklabel_format(axis="x", useOffset=False, style="plain")
    gx.set_yticks([])
    gx.set_ylabel("genes")
    gx.set_xlim(x0, x1)
    gx.set_xlabel(f"{region.chrom} position (1-based)")
    if not genes:
        gx.text((x0 + x1) / 2, 1, "no Prodigal gene in this region", ha="center", fontsize=8, color="#777777")
    fig.savefig(out, format="png", dpi=130, bbox_inches="tight")
    plt.close(fig)
