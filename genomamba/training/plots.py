"""Loss curve PNG from the CSV logs of a run (all ``version_*`` of a resumed run, merged)."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path


def read_csv_logs(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{metric: [(step, value), ...]}`` from every ``metrics.csv`` under ``log_dir``, step-sorted."""
    series: dict[str, dict[int, float]] = {}
    for path in sorted(Path(log_dir).glob("**/metrics.csv")):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                step = row.get("step")
                if not step:
                    continue
                for key, value in row.items():
                    if key in ("step", "epoch") or value in (None, ""):
                        continue
                    series.setdefault(key, {})[int(step)] = float(value)
    return {k: sorted(v.items()) for k, v in series.items()}


def plot_loss_curve(
    log_dir: str | Path,
    out_png: str | Path,
    title: str | None = None,
    baselines: Mapping[str, float] | None = None,
) -> Path | None:
    """Train and validation bits per base against step, with ``baselines`` (e.g. the held-out
    Markov orders, label -> bits per base) as horizontal lines; ``None`` when there is no log.

    One unit on the axis: the loss is logged in nats, so only the ``*/bpb`` series are drawn.
    """
    series = read_csv_logs(log_dir)
    wanted = [k for k in ("train/bpb", "val/bpb") if k in series]
    if not wanted:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for key in wanted:
        steps, values = zip(*series[key], strict=True)
        ax.plot(steps, values, label=key.replace("/bpb", ""), marker="o" if key.startswith("val") else None, markersize=3)
    styles = ("--", ":", "-.")
    for i, (label, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, color="0.35", linestyle=styles[i % len(styles)], linewidth=1, label=f"{label} ({value:.3f})")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("bits per base")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    out = Path(out_png)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
