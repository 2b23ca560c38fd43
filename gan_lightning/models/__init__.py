"""LightningModules: one file per model; the shared adversarial loop is in `base`, drawing from z in
`z_sampling`, translating images in `translation`."""

from __future__ import annotations

import pytorch_lightning as pl
from hydra.utils import get_class
from omegaconf import DictConfig

from gan_lightning.models.base import AdversarialModule
from gan_lightning.models.gan import GAN
from gan_lightning.models.z_sampling import ZSamplingModule
from gan_lightning.utils.config import instantiate

__all__ = ["AdversarialModule", "GAN", "ZSamplingModule", "build_model"]


def build_model(cfg: DictConfig | dict) -> pl.LightningModule:
    """Instantiate `cfg.model` (plain containers, no DictConfig), with ``loss=`` built from `cfg.loss` for every
    model that declares adversarial losses (``supported_losses``: every GAN; not the supervised baseline, which has
    none). The model refuses a loss it does not support (``AdversarialModule.check_loss``)."""
    takes_loss = bool(getattr(get_class(cfg["model"]["_target_"]), "supported_losses", ()))
    kwargs = {"loss": instantiate(cfg["loss"])} if takes_loss else {}
    return instantiate(cfg["model"], **kwargs, _convert_="all")
