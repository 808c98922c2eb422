"""The model side of species fine-tuning: :class:`SpeciesClassifier`.

It owns loss, metrics and optimiser: the backbone's final hidden states, mean-pooled over
real positions (padding ignored, :func:`genomamba.models.pooling.masked_mean`), then a linear
or MLP head. ``freeze_backbone`` trains only the head (the backbone stays in eval mode, no
gradients).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genomamba.api import ModelLike, as_genomamba_model
from genomamba.downstream.kmer import classification_metrics
from genomamba.errors import ConfigError
from genomamba.models.pooling import masked_mean
from genomamba.training.optimizer_settings import check_optimizer_settings

__all__ = ["SpeciesClassifier"]


class SpeciesClassifier(L.LightningModule):
    """Pretrained backbone + masked-mean pooling + classification head.

    Args:
        lm: the pretrained model, a :class:`~genomamba.api.GenomambaModel` or a bare ``GenomambaLM``
            (taken through :func:`~genomamba.api.as_genomamba_model`; its ``config`` is saved as
            ``hparams.model_config``). The classifier trains that very module, in train mode.
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
        lm: ModelLike,
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
        check_optimizer_settings({"lr": lr, "backbone_lr": backbone_lr, "weight_decay": weight_decay,
                                  "warmup_steps": warmup_steps, "min_lr_ratio": min_lr_ratio}, prefix="finetune.")
        backbone = as_genomamba_model(lm).model.train()  # the wrapper leaves it in eval mode
        self.save_hyperparameters(ignore=["lm"])
        self.save_hyperparameters({"model_config": backbone.config.to_dict(), "label_names": list(label_names)})
        self.lm = backbone
        d, n = backbone.config.d_model, len(label_names)
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
                hidden = self.lm.backbone(input_ids, attention_mask)  # (B, L, D)
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


