"""Compose the packaged training config without ``@hydra.main`` (tests, demo, notebooks)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONFIG_MODULE = "genomamba.configs"


def compose_config(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """Compose ``config_name`` from ``genomamba.configs`` with Hydra ``overrides``.

    The ``hydra:`` resolvers used by the configs (``runtime.cwd``, ``runtime.choices``) are
    made available as under ``genomamba train``; the working directory plays ``runtime.cwd``.
    """
    from genomamba.training.schema import register_schemas

    register_schemas()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.cwd = os.getcwd()
    HydraConfig.instance().set_config(cfg)
    return cfg
