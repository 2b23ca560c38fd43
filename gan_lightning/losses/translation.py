"""Reconstruction terms of the image-to-image objectives (Pix2Pix, CycleGAN). Images are (N, C, H, W) in [-1, 1];
each term is a mean absolute error, a scalar tensor."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def l1_loss(fake: Tensor, target: Tensor) -> Tensor:
    """Pix2Pix's L_L1(G) = E ||y - G(x)||_1 (Isola 2017, eq. 3), as a per-pixel mean."""
    return F.l1_loss(fake, target)


def cycle_consistency_loss(x: Tensor, x_reconstructed: Tensor, y: Tensor, y_reconstructed: Tensor) -> Tensor:
    """L_cyc = E ||F(G(x)) - x||_1 + E ||G(F(y)) - y||_1 (Zhu 2017, eq. 2): forward and backward cycles."""
    return F.l1_loss(x_reconstructed, x) + F.l1_loss(y_reconstructed, y)


def identity_loss(x: Tensor, f_of_x: Tensor, y: Tensor, g_of_y: Tensor) -> Tensor:
    """L_identity = E ||G(y) - y||_1 + E ||F(x) - x||_1 (Zhu 2017, sec. 5.2; Taigman 2017): each generator
    should leave images of its own output domain unchanged.

    Raises:
        ValueError: the domains differ in channels (the term is undefined; set model.lambda_identity=0).
    """
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"The identity loss needs domains with equal channels, got C_A={x.shape[1]} and "
                         f"C_B={y.shape[1]}; set model.lambda_identity=0.")
    return F.l1_loss(g_of_y, y) + F.l1_loss(f_of_x, x)
