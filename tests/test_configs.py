"""Compose and instantiate every shipped config (catches config rot), from the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import lightning as L
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genomamba.data import GenomeDataModule
from genomamba.models import GenomambaConfig
from genomamba.training.compose import compose_config
from genomamba.training.train import _instantiate_all

CONFIGS = resources.files("genomamba.configs")
GROUPS = ("model", "data", "trainer", "callbacks", "logger", "paths", "experiment")


def _options(group: str) -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in CONFIGS.joinpath(group).iterdir() if p.name.endswith(".yaml"))


def test_packaged_configs_are_found() -> None:
    assert CONFIGS.joinpath("train.yaml").is_file()
    assert set(_options("model")) >= {"tiny", "small", "base", "hybrid", "bidirectional", "rc"}
    assert set(_options("data")) >= {"bundled", "fasta"}
    assert set(_options("trainer")) >= {"cpu", "gpu", "ddp"}
    assert "bundled_long" in _options("experiment")


def _base(tmp_path: Path) -> list[str]:
    return [f"run_dir={tmp_path / 'run'}", "data.fasta=/any/genome.fa"]


def _instantiate_everything(cfg) -> None:
    dm = instantiate(cfg.data, _convert_="all")
    assert isinstance(dm, GenomeDataModule)
    model_config = instantiate(cfg.model, _convert_="all")
    assert isinstance(model_config, GenomambaConfig)
    module = instantiate(cfg.module, _convert_="all", model_config=model_config)
    assert module.hparams.model_config == model_config.to_dict()
    trainer_cfg = OmegaConf.merge(cfg.trainer, {"accelerator": "cpu", "precision": "32-true"})
    callbacks = _instantiate_all(cfg.callbacks)
    loggers = _instantiate_all(cfg.logger)
    trainer = instantiate(trainer_cfg, _convert_="all", callbacks=callbacks, logger=loggers or False)
    assert isinstance(trainer, L.Trainer)


@pytest.mark.parametrize("group", ["model", "data", "trainer", "callbacks", "logger"])
def test_every_option_composes_and_instantiates(group: str, tmp_path: Path) -> None:
    for option in _options(group):
        cfg = compose_config([*_base(tmp_path), f"{group}={option}"])
        assert cfg.hydra.runtime.choices[group] == option
        _instantiate_everything(cfg)


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_every_experiment_composes_and_instantiates(experiment: str, tmp_path: Path) -> None:
    cfg = compose_config([f"experiment={experiment}", f"run_dir={tmp_path / 'run'}"])
    assert cfg.name == experiment
    assert Path(cfg.data.fasta).name == "escherichia_coli_536.fa.gz"
    _instantiate_everything(cfg)


def test_yaml_states_only_overrides_and_typos_fail(tmp_path: Path) -> None:
    cfg = compose_config(["model=small", *_base(tmp_path)])
    # small.yaml is the code default: the composed values are exactly GenomambaConfig's.
    assert instantiate(cfg.model, _convert_="all") == GenomambaConfig()
    # Any constructor argument is overridable without "+", and unknown keys are rejected.
    cfg = compose_config([*_base(tmp_path), "data.window_length=333", "module.lr=0.5", "trainer.precision=16-mixed"])
    assert (cfg.data.window_length, cfg.module.lr, cfg.trainer.precision) == (333, 0.5, "16-mixed")
    with pytest.raises(Exception, match="window_lenght"):
        compose_config([*_base(tmp_path), "data.window_lenght=333"])


def test_bundled_data_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENOMAMBA_DATA_DIR", str(tmp_path))
    cfg = compose_config([f"run_dir={tmp_path / 'run'}"])
    assert cfg.data.fasta == str(tmp_path / "genomes" / "escherichia_coli_536.fa.gz")
