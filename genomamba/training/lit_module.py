"""``GenomambaLitModule``: the Lightning wrapper that trains a :class:`GenomambaLM`.

It owns the objective, the optimiser/schedule and the metrics; data lives in the
``GenomeDataModule`` and the architecture in ``GenomambaConfig``. The model is stored as
``self.model`` (checkpoint keys ``model.*``) and ``hparams["model_config"]`` is the config dict,
so ``GenomambaLM.from_lightning_checkpoint`` can rebuild it without this module.

Objectives:
    causal: next-token prediction (default for causal models).
    mlm: BERT-style masked LM (Devlin et al. 2019): 15% of nucleotide positions are chosen;
        80% of those become MASK, 10% a random base, 10% stay; the loss is over chosen
        positions. Required for ``bidirectional`` / ``rc_equivariant`` models, which see the
        future and would trivially copy the next token.

Only nucleotide targets (A, C, G, T) contribute: N, PAD and special tokens are ignored.
Soft-masked (lowercase, typically repeat) positions get loss weight ``soft_mask_weight``;
the default 1.0 treats them like any other base, so the training loss equals the reported
bits per base. Lower it (e.g. 0.1, as GPN does for repeats) to focus on non-repeat sequence.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genomamba.data.provenance import merge_training_records
from genomamba.errors import ConfigError
from genomamba.models import GenomambaConfig, GenomambaLM
from genomamba.models.checkpoint import CKPT_TRAINING_DATA_KEY
from genomamba.tokens import MASK_ID, N_NUCLEOTIDES
from genomamba.training.optimizer_settings import check_optimizer_settings

_OBJECTIVES = ("auto", "causal", "mlm")


def _as_model_config(model_config: Any) -> GenomambaConfig:
    """A ``GenomambaConfig`` from a config object or a mapping (a dict or Hydra's DictConfig);
    an object is used as it is, not round-tripped through a dict."""
    if isinstance(model_config, GenomambaConfig):
        return model_config
    if isinstance(model_config, Mapping):
        return GenomambaConfig.from_dict({str(k): v for k, v in model_config.items()})
    raise ConfigError(f"model_config must be a GenomambaConfig or a mapping, got {type(model_config).__name__}")


def load_initial_weights(model: GenomambaLM, source: str) -> dict[str, Any] | None:
    """Copy the weights of the saved model ``source`` into ``model`` (see ``init_from``); returns
    the saved model's training-data record. :class:`ConfigError` names the settings that differ."""
    saved = GenomambaLM.load(source)
    own, theirs = model.state_dict(), saved.state_dict()
    track_only = {"backbone.track_embeddings.weight"} - set(theirs)
    bad = [k for k in own if k not in track_only and (k not in theirs or theirs[k].shape != own[k].shape)]
    bad += [k for k in theirs if k not in own]
    if bad:
        a, b = saved.config.to_dict(), model.config.to_dict()
        diff = [f"{k}={a[k]!r} (config: {b[k]!r})" for k in a if k not in ("relative_track", "cpu_chunk_len") and a[k] != b[k]]
        what = f"its settings {', '.join(diff[:6])}" if diff else f"tensors, e.g. {bad[:3]}"
        raise ConfigError(
            f"module.init_from={source}: the saved model does not fit this model config: {what}. Set the model "
            "overrides to the saved model's config.json (e.g. model=small model.ssm_periods=[3,3])"
        )
    model.load_state_dict(theirs, strict=False)
    return saved.training_data


def lr_lambda(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Multiplier of the peak LR: linear warm-up, then cosine decay to ``min_lr_ratio``.

    >>> [round(lr_lambda(s, 10, 110, 0.1), 3) for s in (0, 5, 10, 60, 110, 200)]
    [0.1, 0.6, 1.0, 0.55, 0.1, 0.1]
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class GenomambaLitModule(L.LightningModule):
    """Train a ``GenomambaLM`` with a causal or masked LM objective.

    Args:
        model_config: ``GenomambaConfig`` or its dict (the model is built from it), or pass a
            built ``model`` as well (then its config must match).
        model: optional pre-built ``GenomambaLM``.
        objective: "auto" (causal for causal models, else mlm), "causal" or "mlm".
        mask_prob: fraction of nucleotide positions chosen for MLM.
        soft_mask_weight: loss weight of soft-masked (lowercase) target positions.
        lr, weight_decay, betas, eps: AdamW settings (decay only on matrices, never on
            norms, biases, or parameters flagged ``_no_weight_decay`` such as ``A_log``/``D``).
        warmup_steps, min_lr_ratio: linear warm-up then cosine decay to ``lr * min_lr_ratio``
            at the last step (``trainer.max_steps``).
        mask_token_id: the tokenizer's MASK id.
        init_from: start from the weights of a saved model (a shipped model's name, a
            ``save_pretrained`` / run directory or a ``.ckpt``) instead of the random init. Every
            tensor must match the configured model's, except a relative-track table this model
            adds (it stays zero, so step 0 computes the saved model's function). The saved
            model's training-data record is carried into this model's.
    """

    def __init__(
        self,
        model_config: Any,
        model: nn.Module | None = None,
        objective: str = "auto",
        mask_prob: float = 0.15,
        soft_mask_weight: float = 1.0,
        lr: float = 2e-3,
        weight_decay: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
        warmup_steps: int = 100,
        min_lr_ratio: float = 0.1,
        mask_token_id: int = MASK_ID,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        config = model.config if model is not None else _as_model_config(model_config)
        if objective not in _OBJECTIVES:
            raise ConfigError(f"module.objective must be one of {_OBJECTIVES}, got {objective!r}")
        if objective == "auto":
            objective = "causal" if config.is_causal else "mlm"
        if objective == "causal" and not config.is_causal:
            raise ConfigError(
                "objective=causal needs a causal model; bidirectional / rc_equivariant models see "
                "the next token. Use module.objective=mlm (or auto)."
            )
        if not 0.0 < mask_prob < 1.0:
            raise ConfigError(f"module.mask_prob must be in (0, 1), got {mask_prob}")
        if soft_mask_weight < 0:
            raise ConfigError(f"module.soft_mask_weight must be >= 0, got {soft_mask_weight}")
        check_optimizer_settings(
            {"lr": lr, "weight_decay": weight_decay, "betas": betas, "eps": eps, "warmup_steps": warmup_steps,
             "min_lr_ratio": min_lr_ratio}
        )
        self.save_hyperparameters(
            {
                "model_config": config.to_dict(),
                "objective": objective,
                "mask_prob": mask_prob,
                "soft_mask_weight": soft_mask_weight,
                "lr": lr,
                "weight_decay": weight_decay,
                "betas": tuple(betas),
                "eps": eps,
                "warmup_steps": warmup_steps,
                "min_lr_ratio": min_lr_ratio,
                "mask_token_id": mask_token_id,
                "init_from": init_from,
            }
        )
        self.model = model if model is not None else GenomambaLM(config)
        #: the training-data record of the ``init_from`` model (merged into the final one)
        self.init_training_data: dict[str, Any] | None = None
        if init_from is not None:
            self.init_training_data = load_initial_weights(self.model, str(init_from))
        self._t_last: float | None = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # .ckpt files carry the training-data record too (the run's model/ directory has it as
        # training_data.json), so held-out checks work on checkpoints as well.
        datamodule = getattr(self.trainer, "datamodule", None)
        record = self.training_record(datamodule)
        if record is not None:
            checkpoint[CKPT_TRAINING_DATA_KEY] = record

    def training_record(self, datamodule: Any) -> dict[str, Any] | None:
        """What the model has been trained on: ``datamodule``'s training-data record, plus the
        ``init_from`` model's (None when unknown)."""
        record = datamodule.training_record() if hasattr(datamodule, "training_record") else None
        if self.hparams.get("init_from") is None:
            return record
        return merge_training_records(self.init_training_data, record)

    # ------------------------------------------------------------------ objective
    def _mlm_corrupt(self, input_ids: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """BERT corruption. Returns (corrupted ids (B, L), chosen (B, L) bool)."""
        dev = input_ids.device
        is_nuc = input_ids < N_NUCLEOTIDES
        u = torch.rand(input_ids.shape, generator=generator, device="cpu").to(dev)
        chosen = is_nuc & (u < self.hparams.mask_prob)
        # Within chosen: [0, .8) -> MASK, [.8, .9) -> random base, [.9, 1) -> unchanged.
        r = torch.rand(input_ids.shape, generator=generator, device="cpu").to(dev)
        rand_base = torch.randint(0, N_NUCLEOTIDES, input_ids.shape, generator=generator, device="cpu").to(dev)
        corrupted = torch.where(chosen & (r < 0.8), torch.full_like(input_ids, self.hparams.mask_token_id), input_ids)
        corrupted = torch.where(chosen & (r >= 0.8) & (r < 0.9), rand_base, corrupted)
        return corrupted, chosen

    def compute_nll(
        self, batch: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per-position NLL of the objective.

        Returns:
            nll: (B, L') float32 natural-log NLL per target position.
            valid: (B, L') bool, positions that count (nucleotide targets; MLM: chosen ones).
            soft: (B, L') bool, soft-masked targets.
            correct: (B, L') bool, argmax over ACGT equals the target.
        """
        input_ids = batch["input_ids"]
        attn = batch.get("attention_mask")
        soft = batch.get("soft_mask")
        if soft is None:
            soft = torch.zeros_like(input_ids, dtype=torch.bool)
        if self.hparams.objective == "causal":
            # a relative-track model's second input (windows of a datamodule with track_fasta)
            track = {"track_ids": batch["track_ids"]} if "track_ids" in batch else {}
            logits = self.model(input_ids, attention_mask=attn, **track).logits[:, :-1]
            targets = input_ids[:, 1:]
            valid = targets < N_NUCLEOTIDES
            soft = soft[:, 1:]
            if attn is not None:
                valid = valid & attn[:, 1:].bool()
        else:
            corrupted, valid = self._mlm_corrupt(input_ids, generator)
            logits = self.model(corrupted, attention_mask=attn).logits
            targets = input_ids
            if attn is not None:
                valid = valid & attn.bool()
        logits = logits.float()
        safe_targets = torch.where(valid, targets, torch.zeros_like(targets))
        nll = F.cross_entropy(logits.transpose(1, 2), safe_targets, reduction="none")
        correct = logits[..., :N_NUCLEOTIDES].argmax(-1) == targets
        return nll, valid, soft.bool(), correct

    def _step(self, batch: Mapping[str, Tensor], stage: str) -> Tensor:
        nll, valid, soft, correct = self.compute_nll(batch)
        w = valid.float() * torch.where(soft, self.hparams.soft_mask_weight, 1.0)
        n = valid.sum().clamp_min(1)
        loss = (nll * w).sum() / w.sum().clamp_min(1e-8)
        mean_nll = (nll * valid).sum() / n
        bs = batch["input_ids"].shape[0]
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, prog_bar=True, on_step=on_step, on_epoch=not on_step, batch_size=bs, sync_dist=not on_step)
        self.log(f"{stage}/bpb", mean_nll / math.log(2), prog_bar=stage == "val", on_step=on_step, on_epoch=not on_step, batch_size=bs, sync_dist=not on_step)
        self.log(f"{stage}/acc", (correct & valid).sum() / n, on_step=on_step, on_epoch=not on_step, batch_size=bs, sync_dist=not on_step)
        return loss

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        loss = self._step(batch, "train")
        now = time.perf_counter()
        if self._t_last is not None:
            tokens = batch["input_ids"].numel() * self.trainer.world_size
            self.log("train/tokens_per_s", tokens / max(now - self._t_last, 1e-9), prog_bar=True, on_step=True)
        self._t_last = now
        return loss

    def on_train_epoch_start(self) -> None:
        self._t_last = None

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    # ------------------------------------------------------------------ optimiser
    def configure_optimizers(self) -> dict[str, Any]:
        decay, no_decay = [], []
        for _, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or getattr(p, "_no_weight_decay", False) else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": self.hparams.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        # CPU: the fused AdamW (one C++ loop per tensor, ~4x cheaper than the per-op default there)
        on_cpu = all(p.device.type == "cpu" for p in decay + no_decay)
        opt = torch.optim.AdamW(
            groups, lr=self.hparams.lr, betas=tuple(self.hparams.betas), eps=self.hparams.eps, fused=on_cpu or None
        )
        total = int(self.trainer.estimated_stepping_batches) if self._trainer is not None else 1
        warmup, min_ratio = int(self.hparams.warmup_steps), float(self.hparams.min_lr_ratio)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, warmup, total, min_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
