"""The fine-tuning tasks: one runner class per ``configs/task/<task>.yaml``.

Each task's YAML names its runner (``task.runner._target_``); :func:`genomamba.downstream.finetune.finetune`
instantiates it with Hydra and calls :meth:`FinetuneTask.run`, so adding a task is a YAML file
and a class, never another branch. A runner

* ``check(cfg)``: validates the task's inputs cheaply (before any run directory exists);
* ``run(cfg)``: runs the task from the composed ``finetune`` config, writes ``metrics.json``
  (and the task's other outputs) into ``cfg.run_dir`` and returns the metrics;
* ``summary(metrics)``: the one line ``genomamba finetune`` prints at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from omegaconf import DictConfig

from genomamba.data.provenance import check_held_out, describe_held_out
from genomamba.errors import ConfigError, FastaError, GenomambaError, VCFError
from genomamba.outputs import atomic_write_text, check_not_input, write_json

if TYPE_CHECKING:
    from genomamba.downstream.species.classifier import SpeciesClassifier
    from genomamba.downstream.species.datamodule import SpeciesDataModule

# torch, Lightning and the model are imported inside the methods that run the task: the
# `genomamba finetune` preflight instantiates a runner and checks its paths before any of them.

__all__ = ["FinetuneTask", "SpeciesTask", "VariantEffectTask", "model_path"]

KMER_K = (4, 6)  # default k of the k-mer baselines (task.kmer_k)
# Training windows per species of the k-mer baselines, drawn once from the training region with
# the run's seed: as many as the fine-tuning drew (steps x batch / species), so the baseline is not
# starved, within these bounds (a logistic regression on 4**6 features stays quick).
KMER_TRAIN_WINDOWS = (128, 4096)


class FinetuneTask(Protocol):
    def check(self, cfg: DictConfig) -> None: ...

    def run(self, cfg: DictConfig) -> dict[str, Any]: ...

    def summary(self, metrics: dict[str, Any]) -> str: ...


def model_path(cfg: DictConfig) -> str:
    """``cfg.model.path`` as a string; a clear error when it was not given."""
    from omegaconf.errors import MissingMandatoryValue

    try:
        return str(cfg.model.path)
    except MissingMandatoryValue as e:
        raise ConfigError("model.path is not set: pass model.path=<save_pretrained dir, run dir or .ckpt>") from e


def _check_model_path(cfg: DictConfig) -> None:
    from genomamba.models.locate import resolve_model_path

    resolve_model_path(model_path(cfg))  # CheckpointError naming a missing / unusable path


def _write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    write_json(run_dir / "metrics.json", metrics, option="run_dir")


def _check_outputs(cfg: DictConfig, names: Sequence[str], inputs: Mapping[str, Any]) -> None:
    """OutputError when a file the task writes into ``cfg.run_dir`` is one of its ``inputs``, or the
    run directory holds the model it reads (a training run's directory: its metrics.json and
    checkpoints would be overwritten)."""
    run_dir = Path(cfg.run_dir).resolve()
    fix = "pass another name=... or run_dir=..."
    for name in names:
        check_not_input(run_dir / name, "run_dir output", inputs, fix=fix)
    check_not_input(run_dir, "run_dir", {"model.path": inputs.get("model.path")}, replaces_dir=True, fix=fix)


class SpeciesTask:
    """``task=species``: fine-tune a pooled classification head (:class:`SpeciesClassifier`) on
    species windows (:class:`SpeciesDataModule`), then score the k-mer baselines
    (``task.kmer_k``, default 4 and 6) on the same test windows.

    Outputs in ``run_dir``: ``metrics.json`` (test accuracy, macro-F1, confusion matrix, chance,
    held-out strains / regions, the paired comparisons with the k-mer baselines), ``logs/`` (CSV)
    and ``checkpoints/last.ckpt``.
    """

    def check(self, cfg: DictConfig) -> None:
        """Model path, then the split: test sequence the backbone was pretrained on is refused
        here, before any run directory exists (``allow_seen=true`` measures it anyway)."""
        from hydra.utils import instantiate

        from genomamba.training.optimizer_settings import check_optimizer_settings
        from genomamba.training.train import check_trainer_settings

        _check_model_path(cfg)
        _kmer_ks(cfg)
        check_trainer_settings(cfg.trainer)
        check_optimizer_settings(cfg.finetune, prefix="finetune.")
        genomes = cfg.task.data.get("genomes")
        _check_outputs(cfg, ("metrics.json", "checkpoints/last.ckpt"),
                       {"model.path": model_path(cfg), "task.data.genomes": genomes if isinstance(genomes, str) else None})
        from genomamba.api import as_genomamba_model  # torch: after the checks that need none

        datamodule: SpeciesDataModule = instantiate(cfg.task.data, _convert_="all", seed=cfg.seed)
        _check_species_held_out(cfg, as_genomamba_model(model_path(cfg), device="cpu"), datamodule)

    def run(self, cfg: DictConfig) -> dict[str, Any]:
        import lightning as L
        from hydra.utils import instantiate
        from lightning.pytorch.loggers import CSVLogger

        from genomamba.api import as_genomamba_model
        from genomamba.training.callbacks import AtomicCheckpointIO, StepProgressBar

        path = model_path(cfg)
        run_dir = Path(cfg.run_dir).resolve()
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        model = as_genomamba_model(path, device="cpu")
        datamodule: SpeciesDataModule = instantiate(cfg.task.data, _convert_="all", seed=cfg.seed)
        overlap = _check_species_held_out(cfg, model, datamodule)
        datamodule.setup("fit")
        module: SpeciesClassifier = instantiate(cfg.finetune, _convert_="all", lm=model, label_names=datamodule.label_names)
        callbacks = [] if cfg.trainer.get("enable_progress_bar") is False else [StepProgressBar()]
        trainer: L.Trainer = instantiate(
            cfg.trainer, _convert_="all", logger=CSVLogger(str(run_dir), name="logs", version=""),
            plugins=[AtomicCheckpointIO()], default_root_dir=str(run_dir), callbacks=callbacks,
        )
        print(
            f"finetune task={cfg.task.name}: {trainer.max_steps} steps of {datamodule.batch_size} x {datamodule.window_length} bp "
            f"({'head only' if module.hparams.freeze_backbone else 'backbone and head'}); writing {run_dir}",
            flush=True,
        )
        trainer.fit(module, datamodule=datamodule)
        trainer.test(module, datamodule=datamodule, verbose=False)
        trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
        split = datamodule.genome_split()
        kmer, paired = _kmer_comparison(
            datamodule, module, cfg.seed, ks=_kmer_ks(cfg), n_drawn=trainer.global_step * datamodule.batch_size)
        metrics = {
            "task": cfg.task.name,
            "split": split.protocol,
            "species": split.species,
            "held_out": split.held_out,
            "pretraining_overlap": overlap,
            "chance": 1.0 / split.n_classes,
            "window_length": datamodule.window_length,
            "test": module.metrics.get("test"),
            "kmer_baseline": kmer,
            "finetune_vs_kmer": paired,
            "val": module.metrics.get("val"),
            "train": {"global_step": int(trainer.global_step), "freeze_backbone": bool(module.hparams.freeze_backbone)},
            "model_path": str(path),
            "run_dir": str(run_dir),
        }
        _write_metrics(run_dir, metrics)
        return metrics

    def summary(self, metrics: dict[str, Any]) -> str:
        from genomamba.downstream.stats import format_ci

        t = metrics["test"]
        baselines = "; ".join(
            f"{key.removeprefix('k=')}-mer baseline on the same windows {format_ci(m['accuracy'], m['accuracy_ci'])}, "
            f"difference {format_ci(d['difference'], d['difference_ci'])} (McNemar p={d['mcnemar_p']:.3g})"
            for (key, m), d in zip(metrics["kmer_baseline"].items(), metrics["finetune_vs_kmer"].values(), strict=True)
        )
        return (
            f"{metrics['task']} ({metrics['split']} split, {t['n']} test windows; "
            f"{describe_held_out(metrics.get('pretraining_overlap'))}): test accuracy "
            f"{format_ci(t['accuracy'], t['accuracy_ci'])}, macro-F1 {t['macro_f1']:.3f} (chance {metrics['chance']:.3f}); "
            f"{baselines}; {metrics['run_dir']}/metrics.json"
        )


def _kmer_ks(cfg: DictConfig) -> list[int]:
    """``cfg.task.kmer_k`` (one k or a list, each 1-8) as a list; ConfigError otherwise."""
    value = cfg.task.get("kmer_k", KMER_K)
    ks = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 8 for k in ks):
        raise ConfigError(f"task.kmer_k must be k values from 1 to 8 (e.g. [4, 6]), got {value}")
    return ks


def _check_species_held_out(cfg: DictConfig, model: Any, datamodule: SpeciesDataModule) -> dict[str, Any]:
    """:func:`~genomamba.data.provenance.check_held_out` of the split's test intervals against
    the backbone's training-data record; ConfigError on an overlap unless ``cfg.allow_seen``."""
    from genomamba.api import as_lm

    split = datamodule.genome_split()
    return check_held_out(
        as_lm(model), zip(split.files, split.intervals["test"], strict=True), "species finetune",
        "hold out strains the backbone never saw (task.data.split=strain task.data.test_strains='[\"species=strain\"]') "
        "or a region it never saw (task.data.test_fraction)", allow_seen=bool(cfg.get("allow_seen", False)),
    )


def _kmer_comparison(
    datamodule: SpeciesDataModule, module: SpeciesClassifier, seed: int, ks: Sequence[int] = KMER_K, n_drawn: int = 0
) -> tuple[dict, dict]:
    """The k-mer logistic baselines (each k of ``ks``) on the *same* test windows, and the paired
    comparisons (fine-tuned = a, k-mer = b: accuracy difference with a paired bootstrap CI,
    McNemar p), keyed ``"k=4"``, ... . ``n_drawn``: training windows the fine-tuning drew (the
    baselines get as many per species, within :data:`KMER_TRAIN_WINDOWS`)."""
    from genomamba.downstream.kmer import kmer_baseline
    from genomamba.downstream.species.genomes import draw_windows
    from genomamba.downstream.stats import compare_accuracy

    split = datamodule.genome_split()
    lo, hi = KMER_TRAIN_WINDOWS
    n_per_species = min(hi, max(lo, -(-n_drawn // split.n_classes)))
    test = datamodule.datasets["test"].windows  # type: ignore[attr-defined]
    train = draw_windows(split, "train", datamodule.window_length, n_per_species, seed)
    kmer, paired = {}, {}
    for k in ks:
        m = kmer_baseline(train.ids, train.labels, test.ids, test.labels, split.species, k=k, seed=seed)
        pred = m.pop("predictions")
        kmer[f"k={k}"] = {**m, "n_train": len(train.labels)}
        paired[f"k={k}"] = compare_accuracy(test.labels, module.predictions["test"], pred, seed=seed)
    return kmer, paired


class VariantEffectTask:
    """``task=variant_effect``: cross-validated scikit-learn head on frozen REF/ALT features.

    Writes ``metrics.json`` (AUROC/AUPRC overall, per fold and per bin) and
    ``oof_predictions.tsv`` (each variant's out-of-fold probability) into ``run_dir``.
    """

    def check(self, cfg: DictConfig) -> None:
        """Model path, labels, and the labels on ``task.head.fasta`` (contigs, positions, REF
        bases), before any run directory exists."""
        from genomamba.data.fasta import GenomeFile
        from genomamba.downstream.variants.labels import read_labelled_variants
        from genomamba.downstream.variants.supervised import check_labelled_variants

        _check_model_path(cfg)
        labels, fasta = str(cfg.task.labels), str(cfg.task.head.fasta)
        if not Path(labels).is_file():
            raise VCFError(f"labelled variants file {labels} not found; pass an existing TSV (task.labels=...)")
        rows = read_labelled_variants(labels, option="task.labels")
        if not Path(fasta).exists():
            raise FastaError(f"task.head.fasta={fasta}: FASTA file not found; pass the genome the labelled variants "
                             f"(task.labels={labels}) were called on")
        try:
            check_labelled_variants(rows, GenomeFile(fasta))
        except GenomambaError as e:
            raise type(e)(f"task.head.fasta={fasta} with task.labels={labels}: {e}") from None
        _check_outputs(cfg, ("metrics.json", "oof_predictions.tsv"),
                       {"model.path": model_path(cfg), "task.labels": labels, "task.head.fasta": fasta})

    def run(self, cfg: DictConfig) -> dict[str, Any]:
        from hydra.utils import instantiate

        from genomamba.api import as_genomamba_model
        from genomamba.downstream.variants.labels import read_labelled_variants

        path = model_path(cfg)
        run_dir = Path(cfg.run_dir).resolve()
        rows = read_labelled_variants(cfg.task.labels, option="task.labels")
        print(f"finetune task=variant_effect: {len(rows)} labelled variants from {cfg.task.labels}; writing {run_dir}", flush=True)
        # finetune_variant_effect takes the bare GenomambaLM (helper H1's module).
        lm = as_genomamba_model(path, device="cpu").model
        head = instantiate(cfg.task.head, _partial_=True, _convert_="all")
        result = head(lm, rows)
        oof = result.pop("oof_probability")
        metrics = {
            "task": cfg.task.name,
            "labels": str(cfg.task.labels),
            "n_variants": len(rows),
            "cross_validated": result,
            "model_path": path,
            "run_dir": str(run_dir),
        }
        _write_metrics(run_dir, metrics)
        cols = [c for c in ("id", "chrom", "pos", "ref", "alt", "label", "bin") if c in rows[0]]
        lines = ["\t".join([*cols, "oof_probability"])]
        lines += ["\t".join([*(str(r[c]) for c in cols), f"{p:.6g}"]) for r, p in zip(rows, oof, strict=True)]
        atomic_write_text(run_dir / "oof_predictions.tsv", "\n".join(lines) + "\n", option="run_dir")
        return metrics

    def summary(self, metrics: dict[str, Any]) -> str:
        cv = metrics["cross_validated"]
        return (
            f"variant_effect ({metrics['n_variants']} labelled variants, {cv['cv']}-fold CV, {cv['classifier']} on "
            f"{cv['features']} features): AUROC {cv['auroc']:.3f}, AUPRC {cv['auprc']:.3f}; {metrics['run_dir']}/metrics.json"
        )
