"""Adversarial losses; ``LOSSES`` maps each config name (conf/loss/<name>.yaml) to its class."""

from gan_lightning.losses.adversarial import (
    AdversarialLoss,
    HingeLoss,
    LSGANLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WGANGPLoss,
    gradient_penalty,
)

LOSSES: dict[str, type[AdversarialLoss]] = {
    cls.name: cls for cls in (MinimaxLoss, NonSaturatingLoss, LSGANLoss, HingeLoss, WGANGPLoss)
}

__all__ = [
    "AdversarialLoss",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "LSGANLoss",
    "HingeLoss",
    "WGANGPLoss",
    "gradient_penalty",
    "LOSSES",
]
