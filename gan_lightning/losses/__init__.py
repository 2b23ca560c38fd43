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

# Semi-supervised (K+1)-class losses (SGAN: Odena 2016; Salimans et al. 2016, sec. 3.1 and 5).
from gan_lightning.losses.semi_supervised import (  # noqa: E402
    feature_matching_loss,
    generator_adversarial_loss,
    real_logit,
    real_probability,
    supervised_loss,
    unsupervised_loss,
)

__all__ += [
    "feature_matching_loss",
    "generator_adversarial_loss",
    "real_logit",
    "real_probability",
    "supervised_loss",
    "unsupervised_loss",
]
