"""Fine-tuning a pretrained backbone for species classification (Lightning + Hydra).

* :class:`SpeciesDataModule` owns the data: the split protocol
  (:func:`~genomamba.downstream.species.split_genomes`), fresh random training windows every
  epoch (balanced species -> record by length -> start, optional RC augmentation) and fixed,
  seeded validation / test windows — with the same seed and counts, the same test windows the
  linear probe uses.
* :class:`SpeciesClassifier` owns loss, metrics and optimiser: the backbone's final hidden
  states, mean-pooled over real positions (padding ignored), then a linear or MLP head.
  ``freeze_backbone`` trains only the head (the backbone stays in eval mode, no gradients).
* :func:`finetune` runs it from a composed config; :func:`finetune_main` is the
  ``genomamba finetune`` entry point (``configs/finetune.yaml`` with ``task=species``).

Outputs in ``run_dir``: ``metrics.json`` (test accuracy, macro-F1, confusion matrix, chance,
held-out strains / regions), ``logs/`` (CSV) and ``checkpoints/last.ckpt``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from genomamba.data.windows import EpochKeySampler, RandomWindowDataset, collate_windows
from genomamba.downstream.kmer import classification_metrics
from genomamba.downstream.species import SpeciesSplit, WindowSet, draw_windows, split_genomes
from genomamba.errors import ConfigError, GenomambaError

__all__ = ["SpeciesClassifier", "SpeciesDataModule", "compose_finetune", "finetune", "finetune_main", "masked_mean"]

log = logging.getLogger(__name__)


def masked_mean(hidden: Tensor, mask: Tensor | None) -> Tensor:
    """Mean over real positions: hidden (B, L, D), mask (B, L) bool or None -> (B, D)."""
    if mask is None:
        return hidden.mean(1)
    m = mask.to(hidden.dtype)[..., None]  # (B, L, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


class _FixedWindows(Dataset):
    """A drawn :class:`WindowSet` as a map-style dataset of ``{input_ids, label}`` items."""

    def __init__(self, windows: WindowSet) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows.labels)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"input_ids": torch.from_numpy(self.windows.ids[i].astype(np.int64)), "label": torch.tensor(self.windows.labels[i])}


def _collate_fixed(items: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    ids = torch.stack([x["input_ids"] for x in items])  # (B, L): fixed-length windows, no padding
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids, dtype=torch.bool), "labels": torch.stack([x["label"] for x in items])}


class SpeciesDataModule(L.LightningDataModule):
    """Species windows for fine-tuning.

    Args:
        genomes: see :func:`~genomamba.downstream.species.as_genomes` (default: bundled table).
        split: ``"region"`` or ``"strain"`` protocol.
        window_length: ``L``.
        batch_size: windows per batch.
        train_samples_per_epoch: random training windows per epoch (new ones every epoch).
        n_val_windows, n_test_windows: fixed windows per species (200 test windows: with 4
            species the 95% CI of the test accuracy is about +-0.03 or narrower).
        val_fraction, test_fraction: held-out fractions of each record (region protocol; for
            the strain protocol val comes from the training strains' records).
        rc_augment: reverse-complement half of the training windows (seeded).
        seed: split, windows and augmentation seed.
        num_workers: DataLoader workers for the training windows.
    """

    def __init__(
        self,
        genomes: Any = None,
        split: str = "region",
        window_length: int = 1024,
        batch_size: int = 16,
        train_samples_per_epoch: int = 4096,
        n_val_windows: int = 32,
        n_test_windows: int = 200,
        val_fraction: float = 0.05,
        test_fraction: float = 0.2,
        rc_augment: bool = True,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1 or train_samples_per_epoch < batch_size:
            raise ConfigError(
                f"need batch_size >= 1 and train_samples_per_epoch >= batch_size, got {batch_size}, {train_samples_per_epoch}"
            )
        self.genomes = genomes
        self.split = split
        self.window_length = int(window_length)
        self.batch_size = int(batch_size)
        self.train_samples_per_epoch = int(train_samples_per_epoch)
        self.n_val_windows = int(n_val_windows)
        self.n_test_windows = int(n_test_windows)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.rc_augment = bool(rc_augment)
        self.seed = int(seed)
        self.num_workers = int(num_workers)
        self.data: SpeciesSplit | None = None
        self.datasets: dict[str, Dataset] = {}
        self._sampler: EpochKeySampler | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        self.data = split_genomes(
            self.genomes, split=self.split, test_fraction=self.test_fraction, val_fraction=self.val_fraction, seed=self.seed
        )
        d = self.data
        self.datasets["train"] = RandomWindowDataset(
            d.files,
            d.intervals["train"],
            self.window_length,
            samples_per_epoch=self.train_samples_per_epoch,
            seed=self.seed,
            rc_augment=self.rc_augment,
            balance_labels=True,
        )
        if self.val_fraction > 0 and self.n_val_windows > 0:
            self.datasets["val"] = _FixedWindows(draw_windows(d, "val", self.window_length, self.n_val_windows, self.seed))
        self.datasets["test"] = _FixedWindows(draw_windows(d, "test", self.window_length, self.n_test_windows, self.seed))

    @property
    def label_names(self) -> list[str]:
        if self.data is None:
            self.setup()
        assert self.data is not None
        return list(self.data.species)

    def train_dataloader(self) -> DataLoader:
        # Under DDP every rank takes its own share of the key stream (the sampler is a
        # DistributedSampler, so Lightning does not shard it again).
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        if self._sampler is None or (self._sampler.rank, self._sampler.num_replicas) != (rank, world):
            self._sampler = EpochKeySampler(self.train_samples_per_epoch, rank=rank, num_replicas=world)
        return DataLoader(
            self.datasets["train"], batch_size=self.batch_size, sampler=self._sampler, drop_last=True,
            collate_fn=collate_windows, num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader | list:
        if "val" not in self.datasets:
            return []
        return DataLoader(self.datasets["val"], batch_size=self.batch_size, collate_fn=_collate_fixed)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.datasets["test"], batch_size=self.batch_size, collate_fn=_collate_fixed)


class SpeciesClassifier(L.LightningModule):
    """Pretrained backbone + masked-mean pooling + classification head.

    Args:
        lm: the pretrained ``GenomambaLM`` (its ``config`` is saved as ``hparams.model_config``).
        label_names: class names (``n_classes = len(label_names)``).
        head: ``"linear"`` or ``"mlp"`` (Linear -> GELU -> dropout -> Linear, ``head_hidden`` wide).
        standardize: standardise the pooled features with a non-affine ``BatchNorm1d`` (running
            statistics at evaluation) before the head, as the linear probe's ``StandardScaler``
            does: pooled final-normed states differ between species by small offsets, which
            an unscaled linear head learns only slowly.
        freeze_backbone: train only the head.
        lr: head learning rate; ``backbone_lr``: backbone learning rate (default ``lr / 10``).
        weight_decay, warmup_steps, min_lr_ratio: AdamW decay and the warm-up + cosine schedule
            of :func:`genomamba.training.lit_module.lr_lambda`.
    """

    def __init__(
        self,
        lm: nn.Module,
        label_names: Sequence[str],
        head: str = "linear",
        head_hidden: int = 128,
        dropout: float = 0.1,
        standardize: bool = True,
        freeze_backbone: bool = False,
        lr: float = 2e-3,
        backbone_lr: float | None = None,
        weight_decay: float = 0.01,
        warmup_steps: int = 20,
        min_lr_ratio: float = 0.1,
    ) -> None:
        super().__init__()
        if head not in ("linear", "mlp"):
            raise ConfigError(f"finetune.head must be 'linear' or 'mlp', got {head!r}")
        if len(label_names) < 2:
            raise ConfigError(f"need at least two classes, got {list(label_names)}")
        self.save_hyperparameters(ignore=["lm"])
        self.save_hyperparameters({"model_config": lm.config.to_dict(), "label_names": list(label_names)})
        self.lm = lm
        d, n = lm.config.d_model, len(label_names)
        layers: list[nn.Module] = [nn.BatchNorm1d(d, affine=False)] if standardize else []
        if head == "linear":
            layers.append(nn.Linear(d, n))
        else:
            layers += [nn.Linear(d, head_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(head_hidden, n)]
        self.head = nn.Sequential(*layers)
        if freeze_backbone:
            self.lm.requires_grad_(False)
        self._preds: dict[str, list[Tensor]] = {}
        self._labels: dict[str, list[Tensor]] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self.predictions: dict[str, np.ndarray] = {}  # per stage, in dataloader order

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """input_ids (B, L), attention_mask (B, L) bool -> class logits (B, n_classes)."""
        if self.hparams.freeze_backbone:
            self.lm.eval()  # no dropout-like behaviour changes and no autograd graph for a frozen backbone
            with torch.no_grad():
                hidden = self.lm.backbone(input_ids, attention_mask)
        else:
            hidden = self.lm.backbone(input_ids, attention_mask)  # (B, L, D)
        return self.head(masked_mean(hidden.float(), attention_mask))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        logits = self(batch["input_ids"], batch.get("attention_mask"))
        loss = F.cross_entropy(logits, batch["labels"])
        acc = (logits.argmax(-1) == batch["labels"]).float().mean()
        bs = batch["input_ids"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log("train/acc", acc, batch_size=bs)
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        logits = self(batch["input_ids"], batch.get("attention_mask"))
        self._preds.setdefault(stage, []).append(logits.argmax(-1).cpu())
        self._labels.setdefault(stage, []).append(batch["labels"].cpu())
        self.log(f"{stage}/loss", F.cross_entropy(logits, batch["labels"]), batch_size=batch["input_ids"].shape[0])

    def _eval_end(self, stage: str) -> None:
        if not self._preds.get(stage):
            return
        pred = torch.cat(self._preds.pop(stage)).numpy()
        true = torch.cat(self._labels.pop(stage)).numpy()
        m = classification_metrics(true, pred, self.hparams.label_names)
        self.metrics[stage] = m
        self.predictions[stage] = pred
        self.log(f"{stage}/acc", m["accuracy"], prog_bar=True)
        self.log(f"{stage}/macro_f1", m["macro_f1"])

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def configure_optimizers(self) -> dict[str, Any]:
        from genomamba.training.lit_module import lr_lambda

        hp = self.hparams
        groups = [{"params": list(self.head.parameters()), "lr": hp.lr}]
        if not hp.freeze_backbone:
            groups.append({"params": [p for p in self.lm.parameters() if p.requires_grad], "lr": hp.backbone_lr or hp.lr / 10})
        opt = torch.optim.AdamW(groups, weight_decay=hp.weight_decay)
        total = int(self.trainer.estimated_stepping_batches) if self._trainer is not None else 1
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, hp.warmup_steps, total, hp.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def register_finetune_schemas() -> None:
    """Store ``schema/species_data`` and ``schema/finetune`` (keys and defaults read from the
    signatures, as :mod:`genomamba.training.schema` does for training), so any argument can be
    overridden from the command line and a typo fails."""
    from hydra.core.config_store import ConfigStore

    from genomamba.training.schema import signature_schema

    cs = ConfigStore.instance()
    cs.store(
        group="schema/species_data", name="default",
        node=signature_schema(SpeciesDataModule, "genomamba.downstream.finetune.SpeciesDataModule"),
    )
    from genomamba.downstream.variants_supervised import finetune_variant_effect

    cs.store(
        group="schema/variant_effect", name="default",
        node=signature_schema(
            finetune_variant_effect, "genomamba.downstream.variants_supervised.finetune_variant_effect",
            {"model", "variants_with_labels"},
        ),
    )
    cs.store(
        group="schema/finetune", name="default",
        node=signature_schema(SpeciesClassifier, "genomamba.downstream.finetune.SpeciesClassifier", {"lm", "label_names"}),
    )


def compose_finetune(overrides: Sequence[str] = ()) -> Any:
    """Compose ``configs/finetune.yaml`` (packaged ``genomamba.configs``) with Hydra overrides."""
    from genomamba.training.compose import compose_config

    register_finetune_schemas()
    return compose_config(list(overrides), config_name="finetune")


def _model_path(cfg: Any) -> str:
    from omegaconf.errors import MissingMandatoryValue

    try:
        return str(cfg.model.path)
    except MissingMandatoryValue as e:
        raise ConfigError("model.path is not set: pass model.path=<save_pretrained dir, run dir or .ckpt>") from e


def _write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")


def finetune_variant_effect_task(cfg: Any) -> dict[str, Any]:
    """``task=variant_effect``: cross-validated scikit-learn head on frozen REF/ALT features.

    Writes ``metrics.json`` (AUROC/AUPRC overall, per fold and per bin) and
    ``oof_predictions.tsv`` (each variant's out-of-fold probability) into ``run_dir``.
    """
    from hydra.utils import instantiate

    from genomamba.api import load
    from genomamba.downstream.variants_supervised import read_labelled_variants

    model_path = _model_path(cfg)
    run_dir = Path(cfg.run_dir).resolve()
    rows = read_labelled_variants(cfg.task.labels)
    print(f"finetune task=variant_effect: {len(rows)} labelled variants from {cfg.task.labels}; writing {run_dir}", flush=True)
    lm = load(model_path, device="cpu").model.eval()
    head = instantiate(cfg.task.head, _partial_=True, _convert_="all")
    result = head(lm, rows)
    oof = result.pop("oof_probability")
    metrics = {
        "task": cfg.task.name,
        "labels": str(cfg.task.labels),
        "n_variants": len(rows),
        "cross_validated": result,
        "model_path": model_path,
        "run_dir": str(run_dir),
    }
    _write_metrics(run_dir, metrics)
    cols = [c for c in ("id", "chrom", "pos", "ref", "alt", "label", "bin") if c in rows[0]]
    lines = ["\t".join([*cols, "oof_probability"])]
    lines += ["\t".join([*(str(r[c]) for c in cols), f"{p:.6g}"]) for r, p in zip(rows, oof, strict=True)]
    (run_dir / "oof_predictions.tsv").write_text("\n".join(lines) + "\n")
    return metrics


KMER_K = 4
KMER_TRAIN_WINDOWS = 128  # per species, drawn once from the training region with the run's seed


def _kmer_comparison(datamodule: SpeciesDataModule, module: SpeciesClassifier, seed: int) -> tuple[dict, dict]:
    """The 4-mer logistic baseline on the *same* test windows, and the paired comparison
    (fine-tuned = a, k-mer = b: accuracy difference with a paired bootstrap CI, McNemar p)."""
    from genomamba.downstream.kmer import kmer_baseline
    from genomamba.downstream.stats import compare_accuracy

    split = datamodule.data
    assert split is not None
    test = datamodule.datasets["test"].windows  # type: ignore[attr-defined]
    train = draw_windows(split, "train", datamodule.window_length, KMER_TRAIN_WINDOWS, seed)
    kmer = kmer_baseline(train.ids, train.labels, test.ids, test.labels, split.species, k=KMER_K, seed=seed)
    kmer_pred = kmer.pop("predictions")
    kmer["n_train"] = len(train.labels)
    return kmer, compare_accuracy(test.labels, module.predictions["test"], kmer_pred, seed=seed)


def finetune(cfg: Any) -> dict[str, Any]:
    """Fine-tune from a composed ``finetune`` config; writes and returns ``metrics.json``."""
    from hydra.utils import instantiate
    from lightning.pytorch.loggers import CSVLogger

    from genomamba.api import load
    from genomamba.training.callbacks import AtomicCheckpointIO, StepProgressBar

    if cfg.task.name == "variant_effect":
        return finetune_variant_effect_task(cfg)
    model_path = _model_path(cfg)
    run_dir = Path(cfg.run_dir).resolve()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    lm = load(model_path, device="cpu").model.train()
    datamodule: SpeciesDataModule = instantiate(cfg.task.data, _convert_="all", seed=cfg.seed)
    datamodule.setup("fit")
    module: SpeciesClassifier = instantiate(cfg.finetune, _convert_="all", lm=lm, label_names=datamodule.label_names)
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
    split = datamodule.data
    assert split is not None
    kmer, paired = _kmer_comparison(datamodule, module, cfg.seed)
    metrics = {
        "task": cfg.task.name,
        "split": split.protocol,
        "species": split.species,
        "held_out": split.held_out,
        "chance": 1.0 / split.n_classes,
        "window_length": datamodule.window_length,
        "test": module.metrics.get("test"),
        "kmer_baseline": kmer,
        "finetune_vs_kmer": paired,
        "val": module.metrics.get("val"),
        "train": {"global_step": int(trainer.global_step), "freeze_backbone": bool(module.hparams.freeze_backbone)},
        "model_path": str(model_path),
        "run_dir": str(run_dir),
    }
    _write_metrics(run_dir, metrics)
    return metrics


def finetune_main(overrides: Sequence[str]) -> int:
    """``genomamba finetune [overrides]``: compose ``finetune.yaml`` and run; returns the exit code."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = compose_finetune(overrides)
        metrics = finetune(cfg)
    except (HydraException, OmegaConfBaseException) as e:
        print(f"genomamba finetune: config error: {e}", file=sys.stderr)
        return 2
    except GenomambaError as e:
        print(f"genomamba finetune: error: {e}", file=sys.stderr)
        return 2
    if metrics["task"] == "variant_effect":
        cv = metrics["cross_validated"]
        print(
            f"variant_effect ({metrics['n_variants']} labelled variants, {cv['cv']}-fold CV, {cv['classifier']} on "
            f"{cv['features']} features): AUROC {cv['auroc']:.3f}, AUPRC {cv['auprc']:.3f}; {metrics['run_dir']}/metrics.json"
        )
        return 0
    from genomamba.downstream.stats import format_ci

    t, k, d = metrics["test"], metrics["kmer_baseline"], metrics["finetune_vs_kmer"]
    print(
        f"{metrics['task']} ({metrics['split']} split, {t['n']} test windows): test accuracy "
        f"{format_ci(t['accuracy'], t['accuracy_ci'])}, macro-F1 {t['macro_f1']:.3f} (chance {metrics['chance']:.3f}); "
        f"{KMER_K}-mer baseline on the same windows {format_ci(k['accuracy'], k['accuracy_ci'])}; difference "
        f"{format_ci(d['difference'], d['difference_ci'])} (McNemar p={d['mcnemar_p']:.3g}); {metrics['run_dir']}/metrics.json"
    )
    return 0
