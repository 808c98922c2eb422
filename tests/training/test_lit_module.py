"""Objective, masking, schedule, checkpoint I/O and evaluation units (no Trainer needed)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from genomamba.errors import ConfigError
from genomamba.models import GenomambaConfig
from genomamba.training.callbacks import AtomicCheckpointIO, SeqLenWarmup
from genomamba.training.evaluation import model_bits, window_bits
from genomamba.training.lit_module import GenomambaLitModule, lr_lambda

TINY = GenomambaConfig(d_model=16, n_layer=1, d_state=4)


def _batch(ids: list[list[int]], soft: list[list[bool]] | None = None) -> dict[str, torch.Tensor]:
    t = torch.tensor(ids)
    s = torch.tensor(soft) if soft is not None else torch.zeros_like(t, dtype=torch.bool)
    return {"input_ids": t, "soft_mask": s}


def test_objective_auto_follows_the_model() -> None:
    assert GenomambaLitModule(TINY).hparams.objective == "causal"
    bi = GenomambaConfig(d_model=16, n_layer=1, d_state=4, bidirectional=True)
    assert GenomambaLitModule(bi).hparams.objective == "mlm"
    with pytest.raises(ConfigError, match="causal"):
        GenomambaLitModule(bi, objective="causal")
    lit = GenomambaLitModule(TINY.to_dict())
    assert lit.hparams.model_config == TINY.to_dict()
    assert all(k.startswith("model.") for k in lit.state_dict())


def test_causal_loss_ignores_n_and_pad_targets() -> None:
    torch.manual_seed(0)
    lit = GenomambaLitModule(TINY)
    nll, valid, _, _ = lit.compute_nll(_batch([[0, 1, 4, 2, 3, 5, 5]]))
    # targets are ids[1:] = C N G T PAD PAD -> only C, G, T count
    assert valid.tolist() == [[True, False, True, True, False, False]]
    assert torch.isfinite(nll).all()


def test_soft_mask_weight_scales_soft_positions() -> None:
    torch.manual_seed(0)
    ids = [[0, 1, 2, 3, 0, 1, 2, 3]]
    soft = [[False, False, False, False, True, True, True, True]]
    lit1 = GenomambaLitModule(TINY, soft_mask_weight=1.0)
    lit0 = GenomambaLitModule(TINY, soft_mask_weight=0.0)
    lit0.model.load_state_dict(lit1.model.state_dict())
    nll, valid, s, _ = lit1.compute_nll(_batch(ids, soft))
    lit1.log = lit0.log = lambda *a, **k: None  # no Trainer attached
    full = lit1._step(_batch(ids, soft), "val")
    hard_only = lit0._step(_batch(ids, soft), "val")
    torch.testing.assert_close(full, nll[valid].mean())
    torch.testing.assert_close(hard_only, nll[valid & ~s].mean())


def test_mlm_corruption_statistics() -> None:
    lit = GenomambaLitModule(GenomambaConfig(d_model=16, n_layer=1, d_state=4, bidirectional=True))
    ids = torch.randint(0, 4, (64, 512))
    ids[:, :10] = 4  # N is never chosen
    gen = torch.Generator().manual_seed(0)
    corrupted, chosen = lit._mlm_corrupt(ids, gen)
    assert not chosen[:, :10].any()
    frac = chosen.float().mean().item() / (502 / 512)
    assert abs(frac - 0.15) < 0.01
    masked = (corrupted == 6) & chosen
    assert abs(masked.sum().item() / chosen.sum().item() - 0.8) < 0.03
    assert torch.equal(corrupted[~chosen], ids[~chosen])


def test_lr_schedule_warmup_then_cosine() -> None:
    values = [lr_lambda(s, 10, 110, 0.1) for s in range(120)]
    assert values[9] == 1.0 and values[0] == pytest.approx(0.1)
    assert all(a <= b for a, b in zip(values[:10], values[1:10], strict=False))
    assert all(a >= b for a, b in zip(values[10:110], values[11:111], strict=False))
    assert values[110] == pytest.approx(0.1) and values[119] == pytest.approx(0.1)


def test_no_weight_decay_on_norms_biases_and_flagged() -> None:
    lit = GenomambaLitModule(TINY, weight_decay=0.3)
    lit._trainer = SimpleNamespace(estimated_stepping_batches=100)
    opt = lit.configure_optimizers()["optimizer"]
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    for name, p in lit.model.named_parameters():
        flagged = p.ndim < 2 or getattr(p, "_no_weight_decay", False)
        assert (id(p) in decayed) != flagged, name


def test_atomic_checkpoint_io_leaves_no_temp(tmp_path: Path) -> None:
    io = AtomicCheckpointIO()
    target = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"a": torch.arange(3)}, target)
    io.save_checkpoint({"a": torch.arange(4)}, target)
    assert torch.load(target)["a"].tolist() == [0, 1, 2, 3]
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]


def test_seq_len_warmup_doubles_to_final() -> None:
    cb = SeqLenWarmup(start_length=32, warmup_steps=400)
    lengths = [cb.length_at(s, 256) for s in range(0, 500, 50)]
    # three stages (32, 64, 128) of 400/3 steps each, then the final length
    assert lengths == [32, 32, 32, 64, 64, 64, 128, 128, 256, 256]


class _Uniform(nn.Module):
    """Uniform over ACGT: exactly 2 bits per base."""

    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, ids: torch.Tensor) -> SimpleNamespace:
        logits = torch.full((*ids.shape, 9), -1e9)
        logits[..., :4] = 0.0
        return SimpleNamespace(logits=logits + self.p)


def test_model_bits_uniform_is_two_bits_on_scored_positions() -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(0, 4, size=40)
    w[20] = 4  # N: itself and the 8 targets after it are not scored
    bits, n = model_bits(_Uniform(), [w, rng.integers(0, 4, size=40)])
    assert n == (40 - 8 - 9) + (40 - 8)
    assert bits / n == pytest.approx(2.0)
    assert math.isfinite(bits)


def test_window_bits_are_model_bits_kept_per_window() -> None:
    rng = np.random.default_rng(0)
    windows = [rng.integers(0, 4, size=40) for _ in range(3)]
    windows[1][20] = 4  # fewer scored positions in window 1
    bits, n = window_bits(_Uniform(), windows)
    assert bits.shape == n.shape == (3,) and n.tolist() == [32, 32 - 9, 32]
    total, count = model_bits(_Uniform(), windows)
    assert bits.sum() == pytest.approx(total) and n.sum() == count

