"""LightningModules: one file per model; the shared adversarial loop is in `base`."""

from __future__ import annotations

import inspect

import pytorch_lightning as pl
from hydra.utils import get_class
from omegaconf import DictConfig

from gan_lightning.models.base import AdversarialModule
from gan_lightning.models.gan import GAN
from gan_lightning.utils.config import instantiate

__all__ = ["AdversarialModule", "GAN", "build_model"]


def build_model(cfg: DictConfig | dict) -> pl.LightningModule:
    """Instantiate `cfg.model` (plain containers, no DictConfig), with the loss from `cfg.loss` when the model
    class takes a `loss` argument (every GAN; not the supervised baseline, which has no adversarial loss)."""
    kwargs = {}
    if "loss" in inspect.signature(get_class(cfg["model"]["_target_"])).parameters:
        kwargs["loss"] = instantiate(cfg["loss"])
    return instantiate(cfg["model"], **kwargs, _convert_="all")
