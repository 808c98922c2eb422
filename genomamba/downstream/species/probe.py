"""Linear probe of frozen embeddings for species classification, next to a k-mer baseline.

The probe and the baseline see exactly the same windows (drawn once per window length by
:func:`~genomamba.downstream.species.genomes.draw_windows`): the probe fits a standardised
logistic regression on mean-pooled embeddings, the baseline on k-mer frequencies.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from genomamba.api import ModelLike, as_genomamba_model, as_lm
from genomamba.data.provenance import check_held_out, describe_held_out
from genomamba.downstream.kmer import classification_metrics, fit_logistic, kmer_baseline
from genomamba.downstream.species.genomes import SpeciesSplit, draw_windows, split_genomes
from genomamba.downstream.stats import compare_accuracy
from genomamba.errors import ConfigError
from genomamba.progress import progress as progress_bar

__all__ = ["ProbeReport", "probe"]

log = logging.getLogger(__name__)

N_TEST_WINDOWS = 200  # held-out windows per species by default (CI half-width <= ~0.03 with 4 species)


def probe(
    model: ModelLike | str | os.PathLike[str] | None,
    genomes: Any = None,
    window_length: int | Sequence[int] = 1024,
    n_windows: int = 128,
    split: str = "region",
    seed: int = 0,
    *,
    n_test_windows: int | None = None,
    test_fraction: float = 0.2,
    kmer_k: int | Sequence[int] = (4, 6),
    test_strains: Mapping[str, str] | None = None,
    C: float = 1.0,
    rc_average: bool = True,
    batch_size: int = 32,
    progress: bool = True,
    allow_seen: bool = False,
) -> dict[str, Any]:
    """Species accuracy of a linear probe on frozen embeddings vs a k-mer baseline.

    Args:
        model: a :class:`~genomamba.api.GenomambaModel`, a bare ``GenomambaLM`` or a path for
            :func:`genomamba.api.load` (through :func:`~genomamba.api.as_genomamba_model`), or
            ``None`` to run only the k-mer baseline.
        genomes: see :func:`~genomamba.downstream.species.genomes.as_genomes` (default: the bundled table).
        window_length: one length or a list (accuracy as a function of window length).
        n_windows: training windows per species; ``n_test_windows`` test windows per species
            (default :data:`N_TEST_WINDOWS` = 200: with 4 species, 800 windows put the 95% CI of
            an accuracy near 0.85 at about +-0.025; 16 per species would give +-0.08-0.10).
        split: ``"region"`` or ``"strain"`` (see :mod:`genomamba.downstream.species.genomes`).
        seed: seeds the strain choice, the windows and the classifiers.
        kmer_k: k of the k-mer baseline(s).
        test_strains: ``{species: strain}`` to hold out with ``split="strain"`` instead of a seeded
            choice (see :func:`~genomamba.downstream.species.genomes.split_genomes`): keep it to strains
            the model never saw in pretraining.
        C: inverse L2 strength of both logistic regressions.
        rc_average: passed to ``embed_token_ids`` (strand-averaged embeddings).
        progress: progress bars with an ETA, over the window lengths and each embedding (only
            when stderr is a terminal; nothing on a pipe).
        allow_seen: when the model records its training sequence (models saved by ``genomamba
            train``), test sequence it was trained on is an error (a ``ConfigError`` naming the
            genomes and the bases); True measures anyway and the report's ``pretraining_overlap``
            says how much was seen.

    Returns:
        ``{"split", "species", "held_out", "chance", "seed", "results": [per window length:
        {"window_length", "n_train", "n_test", "probe": metrics | None, "kmer": {"k=4": metrics,
        ...}, "probe_vs_kmer": {"k=4": paired comparison, ...}}], "accuracy": {L: {"probe": acc,
        "kmer_k4": acc, ...}}, "pretraining_overlap": {"recorded", "seen_bp", "test_bp"}}``
        (see :func:`~genomamba.data.provenance.check_held_out`); metrics hold ``accuracy``, ``accuracy_ci`` (95% Wilson),
        ``macro_f1``, ``confusion_matrix`` (rows true, columns predicted), ``labels``, ``n``; the
        paired comparison (:func:`~genomamba.downstream.stats.compare_accuracy`, a = probe,
        b = k-mer) is on the same test windows: accuracy difference with a paired bootstrap CI
        and McNemar's exact p-value.
    """
    if model is not None:
        model = as_genomamba_model(model)
    lengths = [int(window_length)] if isinstance(window_length, int | np.integer) else [int(x) for x in window_length]
    ks = [int(kmer_k)] if isinstance(kmer_k, int | np.integer) else [int(k) for k in kmer_k]
    if not lengths:
        raise ConfigError("window_length: give at least one length")
    n_test = n_test_windows if n_test_windows is not None else N_TEST_WINDOWS
    sp = split_genomes(genomes, split=split, test_fraction=test_fraction, seed=seed, test_strains=test_strains)
    overlap = check_held_out(
        None if model is None else as_lm(model), zip(sp.files, sp.intervals["test"], strict=True), "species probe",
        "hold out strains it never saw (split='strain', test_strains={species: strain}) or a region it never saw "
        "(test_fraction)", allow_seen=allow_seen,
    )
    results, summary = [], {}
    with progress_bar(len(lengths), "species probe", "window lengths", progress) as advance:
        for L in lengths:
            entry, acc = _probe_one_length(model, sp, L, n_windows, n_test, ks, C, seed, rc_average, batch_size, progress)
            log.info("species probe L=%d (%s split): %s", L, split, acc)
            results.append(entry)
            summary[L] = acc
            advance(1)
    return ProbeReport(
        split=split,
        species=sp.species,
        held_out=sp.held_out,
        chance=1.0 / sp.n_classes,
        seed=seed,
        results=results,
        accuracy=summary,
        pretraining_overlap=overlap,
    )


class ProbeReport(dict):
    """What :func:`probe` returns: the report as a dict (JSON-ready, keys as documented there)
    whose ``print()`` is a table: per window length, the probe's and each k-mer baseline's
    held-out accuracy with 95% CIs and the paired difference."""

    def __str__(self) -> str:
        from genomamba.downstream.stats import format_ci

        held = "; ".join(f"{s}: {h}" for s, h in self["held_out"].items()) if self["held_out"] else "-"
        lines = [
            f"species probe, {len(self['species'])} species ({self['split']} split, chance {self['chance']:.2f}); "
            f"held out: {held}",
        ]
        if any(entry.get("probe") for entry in self["results"]):
            lines.append(f"  {describe_held_out(self.get('pretraining_overlap'))}")
        for entry in self["results"]:
            lines.append(f"  window {entry['window_length']} bp ({entry['n_train']} train / {entry['n_test']} test windows)")
            if entry.get("probe"):
                m = entry["probe"]
                lines.append(f"    {'linear probe on embeddings':<30}{format_ci(m['accuracy'], m['accuracy_ci'])}")
            for key, m in entry["kmer"].items():
                k = key.removeprefix("k=")
                lines.append(f"    {k + '-mer logistic baseline':<30}{format_ci(m['accuracy'], m['accuracy_ci'])}")
            for key, c in (entry.get("probe_vs_kmer") or {}).items():
                k = key.removeprefix("k=")
                verdict = "inside the CI: no difference shown" if c["difference_ci"][0] <= 0 <= c["difference_ci"][1] else (
                    "probe better" if c["difference"] > 0 else "k-mer better")
                lines.append(
                    f"    probe - {k}-mer: {format_ci(c['difference'], c['difference_ci'])} "
                    f"(paired, McNemar p={c['mcnemar_p']:.3g}; {verdict})"
                )
        return "\n".join(lines)


def _probe_one_length(
    model: Any, sp: SpeciesSplit, L: int, n_windows: int, n_test: int, ks: Sequence[int], C: float, seed: int,
    rc_average: bool, batch_size: int, progress: bool,
) -> tuple[dict[str, Any], dict[str, float]]:
    """One window length of :func:`probe`: its results entry and the accuracies it logs."""
    train = draw_windows(sp, "train", L, n_windows, seed=seed)
    test = draw_windows(sp, "test", L, n_test, seed=seed)
    entry: dict[str, Any] = {"window_length": L, "n_train": len(train.labels), "n_test": len(test.labels)}
    acc: dict[str, float] = {}
    if model is not None:
        x_tr = model.embed_token_ids(train.ids, rc_average=rc_average, batch_size=batch_size, progress=progress)
        x_te = model.embed_token_ids(test.ids, rc_average=rc_average, batch_size=batch_size, progress=progress)
        pred = fit_logistic(x_tr, train.labels, x_te, C=C, seed=seed)
        entry["probe"] = classification_metrics(test.labels, pred, sp.species)
        acc["probe"] = entry["probe"]["accuracy"]
    else:
        entry["probe"] = None
        pred = None
    entry["kmer"] = {}
    entry["probe_vs_kmer"] = {}
    for k in ks:
        m = kmer_baseline(train.ids, train.labels, test.ids, test.labels, sp.species, k=k, C=C, seed=seed)
        kmer_pred = m.pop("predictions")
        entry["kmer"][f"k={k}"] = m
        acc[f"kmer_k{k}"] = m["accuracy"]
        if pred is not None:
            entry["probe_vs_kmer"][f"k={k}"] = compare_accuracy(test.labels, pred, kmer_pred, seed=seed)
    return entry, acc
