"""Adversarial losses (one class per conf/loss/<name>.yaml) and the semi-supervised (K+1)-class losses."""

from gan_lightning.losses.adversarial import (
    AdversarialLoss,
    HingeLoss,
    LSGANLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WGANGPLoss,
    gradient_penalty,
)

__all__ = [
    "AdversarialLoss",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "LSGANLoss",
    "HingeLoss",
    "WGANGPLoss",
    "gradient_penalty",
]

# Semi-supervised (K+1)-class losses (SGAN: Odena 2016; Salimans et al. 2016, sec. 3.1 and 5).
from gan_lightning.losses.semi_supervised import (  # noqa: E402
    feature_matching_loss,
    real_logit,
    supervised_loss,
    unsupervised_loss,
)

__all__ += [
    "feature_matching_loss",
    "real_logit",
    "supervised_loss",
    "unsupervised_loss",
]
