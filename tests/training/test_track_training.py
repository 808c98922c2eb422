"""Training a relative-track model: from a saved plain model (module.init_from), on windows with
their track (data.track_fasta), and the one-line refusals when the two do not go together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genomamba.errors import ConfigError
from genomamba.models import GenomambaConfig, GenomambaLM
from genomamba.training.compose import compose_config
from genomamba.training.lit_module import GenomambaLitModule
from genomamba.training.train import train

TRACK = Path(__file__).resolve().parents[2] / "data" / "tracks" / "escherichia_coli_536.relative_klebsiella_pneumoniae_MGH78578.fa.gz"


def test_init_from_copies_every_weight_and_leaves_the_track_table_zero(tmp_path: Path) -> None:
    torch.manual_seed(0)
    base = GenomambaLM(GenomambaConfig(d_model=16, n_layer=2))
    base.training_data = {"format": 1, "records": [{"fasta": "a.fa", "record": "r", "length": 10, "sha256": "x",
                                                    "intervals": [[0, 5]]}]}
    base.save_pretrained(tmp_path / "base")
    module = GenomambaLitModule(GenomambaConfig(d_model=16, n_layer=2, relative_track=True), init_from=str(tmp_path / "base"))
    for name, value in base.state_dict().items():
        torch.testing.assert_close(module.model.state_dict()[name], value, rtol=0, atol=0, msg=name)
    assert not module.model.backbone.track_embeddings.weight.any()
    assert module.init_training_data == base.training_data
    # what the fine-tuned model trained on includes what its starting point trained on; unknown stays unknown
    assert module.training_record(None) is None
    with pytest.raises(ConfigError, match=r"init_from=.*d_model=16 \(config: 32\)"):
        GenomambaLitModule(GenomambaConfig(d_model=32, n_layer=2, relative_track=True), init_from=str(tmp_path / "base"))


def test_train_a_track_model_from_a_saved_one(tmp_path: Path, fast_overrides) -> None:
    train(compose_config(fast_overrides(tmp_path / "base", max_steps=4)))
    metrics = train(compose_config([
        *fast_overrides(tmp_path / "track", max_steps=4), f"data.track_fasta={TRACK}", "model.relative_track=true",
        f"module.init_from={tmp_path / 'base' / 'model'}",
    ]))
    model = GenomambaLM.load(tmp_path / "track" / "model")
    assert model.config.relative_track and model.backbone.track_embeddings.weight.any()  # trained
    assert metrics["relative_track"] is True
    record = json.loads((tmp_path / "track" / "model" / "training_data.json").read_text())
    base_record = json.loads((tmp_path / "base" / "model" / "training_data.json").read_text())
    assert record["records"] == base_record["records"] * 2  # the base's windows, then this run's (same split)


@pytest.mark.parametrize(("extra", "message"), [
    (["model.relative_track=true"], "model.relative_track=true needs data.track_fasta"),
    ([f"data.track_fasta={TRACK}"], "data.track_fasta is set but the model does not read a track"),
    (["model.relative_track=true", "data.track_fasta=/nonexistent/t.fa"], "track FASTA not found: /nonexistent/t.fa"),
    (["module.init_from=no-such-model"], "module.init_from=no-such-model: model not found"),
])
def test_cli_refuses_in_one_line_before_the_run_directory(tmp_path: Path, fast_overrides, capsys, extra, message) -> None:
    from genomamba.apps.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", *fast_overrides(run_dir), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not run_dir.exists()
