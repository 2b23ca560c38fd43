"""LightningModules: one file per model; the shared adversarial loop is in `base`."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig

from gan_lightning.models.base import AdversarialModule
from gan_lightning.models.gan import GAN

__all__ = ["AdversarialModule", "GAN", "build_model"]


def build_model(cfg: DictConfig | dict) -> AdversarialModule:
    """Instantiate `cfg.model` with the loss from `cfg.loss` (plain containers, no DictConfig)."""
    loss = instantiate(cfg["loss"])
    return instantiate(cfg["model"], loss=loss, _convert_="all")
