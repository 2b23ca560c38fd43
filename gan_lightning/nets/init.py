"""Weight initialisation helpers."""

from __future__ import annotations

from torch import nn


def normal_init_(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN initialisation (Radford et al. 2015, sec. 4) of a *single* module, in place.

    Conv / ConvTranspose / Linear: weight ~ N(0, std), bias = 0.
    BatchNorm (affine): weight ~ N(1, std), bias = 0. Other modules are left untouched.
    Not recursive: use ``net.apply(normal_init_)`` (or ``functools.partial`` for another std).
    """
    if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)
