"""Compose the real configs under conf/ the way `python -m gan_lightning.train` does."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from gan_lightning import CONFIG_DIR


def compose_config(config_name: str, overrides: list[str], output_dir, config_dir=CONFIG_DIR) -> DictConfig:
    """Compose `config_name` with `overrides`, resolve `${hydra:...}`, write outputs to output_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        if "paths" in cfg:
            cfg.paths.output_dir = str(output_dir)
        del cfg["hydra"]
    return cfg
