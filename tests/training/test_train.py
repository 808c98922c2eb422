"""End-to-end: a 20-step train on the bundled genome writes a loadable model and metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from genomamba.data.intervals import split_by_region
from genomamba.errors import CheckpointError, ConfigError
from genomamba.models import GenomambaLM
from genomamba.training.compose import compose_config
from genomamba.training.evaluate import evaluate_model
from genomamba.training.train import train


def test_train_20_steps_writes_model_metrics_and_curve(tmp_path: Path, bundled_fasta: Path, fast_overrides) -> None:
    run_dir = tmp_path / "run"
    metrics = train(compose_config(fast_overrides(run_dir, max_steps=20)))

    model = GenomambaLM.from_pretrained(run_dir / "model")
    assert model.config.d_model == 32
    # The saved model records what it trained on: the bundled genome's first 95% (val = last 5%).
    (record,) = model.training_data["records"]
    train_part = split_by_region({"c": record["length"]}, val_fraction=0.05, test_fraction=0.0)["train"]
    assert record["fasta"] == bundled_fasta.name and record["intervals"] == [[0, train_part[0].end]]
    on_disk = json.loads((run_dir / "metrics.json").read_text())
    assert on_disk["train"]["global_step"] == 20
    bpb = on_disk["model"]["bits_per_base"]
    assert math.isfinite(bpb) and 0.5 < bpb < 4.0
    assert set(on_disk["markov"]) == {"1", "2", "3"}
    assert all(1.0 < v < 2.1 for v in on_disk["markov"].values())
    # Model and Markov are scored on the very same held-out positions.
    assert on_disk["model"]["n_positions"] == on_disk["heldout"]["n_positions_markov"] > 0
    assert metrics["model"]["bits_per_base"] == bpb
    assert (run_dir / "loss_curve.png").stat().st_size > 1000

    # `genomamba evaluate <run_dir>` reuses the run's split: same windows, same figure.
    again = evaluate_model(run_dir, bundled_fasta, max_windows=8, orders=[2])
    assert again["heldout"]["window_length"] == 128
    assert again["model"]["bits_per_base"] == pytest.approx(bpb, rel=1e-5)
    assert again["markov"]["2"] == pytest.approx(on_disk["markov"]["2"], rel=1e-9)
    assert again["pretraining_overlap"]["recorded"] and again["pretraining_overlap"]["seen_bp"] == {}
    # A larger held-out fraction reaches into the training region: refused, or measured and recorded.
    with pytest.raises(ConfigError, match=r"genomamba evaluate .*test sequence the model was trained on .*--val-fraction"):
        evaluate_model(run_dir, bundled_fasta, val_fraction=0.2, max_windows=2, orders=[2])
    with pytest.warns(UserWarning, match="not held out"):
        seen = evaluate_model(run_dir, bundled_fasta, val_fraction=0.2, max_windows=2, orders=[2], allow_seen=True)
    assert sum(seen["pretraining_overlap"]["seen_bp"].values()) == train_part[0].end - round(record["length"] * 0.8)

    # The Lightning checkpoint follows the contract of GenomambaLM.from_lightning_checkpoint.
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    from_ckpt = GenomambaLM.from_lightning_checkpoint(ckpt)
    for (name, a), (_, b) in zip(model.state_dict().items(), from_ckpt.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    # ... and carries the same training-data record, so a .ckpt is checked like the model directory.
    assert from_ckpt.training_data == model.training_data
    with pytest.raises(ConfigError, match="test sequence the model was trained on"):
        evaluate_model(ckpt, bundled_fasta, val_fraction=0.2, max_windows=2, orders=[2])
    raw = torch.load(ckpt, weights_only=True)
    raw["genomamba_training_data"] = {"records": "broken"}
    torch.save(raw, tmp_path / "broken.ckpt")
    with pytest.raises(CheckpointError, match=r"broken\.ckpt \[genomamba_training_data\]: not a training-data record"):
        GenomambaLM.from_lightning_checkpoint(tmp_path / "broken.ckpt")
