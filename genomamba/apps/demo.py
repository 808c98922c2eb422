"""``genomamba demo``: train the tiny model on the bundled genome (CPU) and evaluate it.

Structured as steps on a shared :class:`DemoResult` so later steps (embeddings, species
classification) can be appended to :func:`run_demo`.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from genomamba.errors import FastaError
from genomamba.outputs import LOCK_NAME, write_json
from genomamba.training.compose import compose_config
from genomamba.training.train import train  # imports Lightning and torch once the run's inputs are checked

BUNDLED = Path("genomes") / "escherichia_coli_536.fa.gz"
# Held-out fraction of the demo's species probe: the demo model's validation split (the last 5%
# of E. coli 536, the data module's default) is all it never trained on.
DEMO_TEST_FRACTION = 0.05


@dataclass
class DemoResult:
    run_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def find_data_dir() -> Path:
    """``$GENOMAMBA_DATA_DIR``, else ``./data``, else the source checkout's ``data/``."""
    candidates = [os.environ.get("GENOMAMBA_DATA_DIR"), Path.cwd() / "data", Path(__file__).resolve().parents[2] / "data"]
    for c in candidates:
        if c and (Path(c) / BUNDLED).is_file():
            return Path(c)
    raise FastaError(
        f"bundled genome {BUNDLED} not found in $GENOMAMBA_DATA_DIR, ./data or the source checkout; "
        f"run the demo from the repository root or set GENOMAMBA_DATA_DIR"
    )


def step_train(result: DemoResult, cfg: DictConfig) -> None:
    t0 = time.perf_counter()
    result.metrics = train(cfg)
    from genomamba.training.evaluation import format_heldout_report

    result.seconds["train+evaluate"] = time.perf_counter() - t0
    print(format_heldout_report(result.metrics))
    print(f"run directory: {result.run_dir} ({result.seconds['train+evaluate']:.0f} s)")


def step_classify(result: DemoResult, window_lengths: tuple[int, ...] = (256, 1024), n_windows: int = 32) -> None:
    """Embed windows of the four bundled species with the freshly trained model and classify them:
    a linear probe on frozen embeddings against a k-mer-frequency baseline on the same windows."""
    from genomamba.api import load
    from genomamba.downstream.species.probe import probe
    from genomamba.downstream.stats import format_ci

    t0 = time.perf_counter()
    # train() hands back only its metrics (the Lightning module stays inside it and is saved
    # as model/), so the saved model is read back: the same float32 weights train() wrote.
    model = load(result.run_dir / "model", device="cpu")
    # The demo model trained on the first 95% of E. coli 536, so the probe holds out the last 5%
    # of every genome: its test windows are sequence the model never saw.
    report = probe(
        model, find_data_dir() / "species.tsv", window_length=list(window_lengths), n_windows=n_windows,
        split="region", test_fraction=DEMO_TEST_FRACTION, seed=0, kmer_k=4,
        n_test_windows=n_windows // 2,  # few, to stay fast: see the note printed
    )
    result.metrics["species_probe"] = report
    result.seconds["embed+classify"] = time.perf_counter() - t0
    write_json(result.run_dir / "species_probe.json", report)
    print(f"species classification ({len(report['species'])} species, last {DEMO_TEST_FRACTION:.0%} of each genome "
          f"held out, chance {report['chance']:.2f}):")
    for r in report["results"]:
        p, k = r["probe"], r["kmer"]["k=4"]
        print(f"  window {r['window_length']:>5} bp: linear probe {format_ci(p['accuracy'], p['accuracy_ci'])}   "
              f"4-mer baseline {format_ci(k['accuracy'], k['accuracy_ci'])}")
    print(f"  (demo: only {n_windows // 2} held-out windows per species, so the 95% CIs are wide and the two are not "
          "distinguishable; genomamba.downstream.species.probe uses 200 by default)")
    print(f"  ({result.seconds['embed+classify']:.0f} s; details in {result.run_dir / 'species_probe.json'})")


def _is_demo_run(run_dir: Path) -> bool:
    """True for a directory written by an earlier demo (its config says ``name: demo``): the demo
    replaces it, as ``make demo`` does. Anything else is left for ``train`` to refuse."""
    cfg = run_dir / "config.yaml"
    if not cfg.is_file():
        return False
    from omegaconf import OmegaConf

    return OmegaConf.load(cfg).get("name") == "demo"


def _remove_previous_demo(run_dir: Path) -> None:
    """Empty the directory of an earlier demo run (the lock this run holds stays)."""
    if _is_demo_run(run_dir):
        print(f"removing the previous demo run {run_dir}")
        for p in run_dir.iterdir():
            if p.name != LOCK_NAME:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def run_demo(run_dir: Path | None = None, overrides: list[str] | None = None) -> DemoResult:
    """Run the demo steps in order and return what they produced. The config goes through the
    preflight of ``genomamba train`` (:func:`~genomamba.apps.hydra_app.prepared_run`): a bad
    override is the same one line, and the run directory is held for the whole demo."""
    from genomamba.apps.hydra_app import prepared_run
    from genomamba.apps.train import check_training

    run_dir = Path(run_dir if run_dir is not None else Path.cwd() / "runs" / "demo").resolve()
    args = ["experiment=demo", f"run_dir={run_dir}", f"paths.data_dir={find_data_dir()}", *(overrides or [])]

    def check(cfg: DictConfig) -> None:
        _remove_previous_demo(run_dir)  # after the overrides composed, with the directory held
        check_training(cfg)

    with prepared_run("train", lambda: compose_config(args), check) as cfg:
        result = DemoResult(run_dir=run_dir)
        step_train(result, cfg)
        step_classify(result)
    return result
