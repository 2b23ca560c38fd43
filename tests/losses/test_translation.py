"""Reconstruction terms of Pix2Pix and CycleGAN on hand-computed inputs."""

import pytest
import torch

from gan_lightning.losses.translation import cycle_consistency_loss, identity_loss, l1_loss


def test_l1_is_the_mean_absolute_error():
    fake, target = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, -1.0], [0.5, 0.0]]]])
    assert float(l1_loss(fake, target)) == pytest.approx(2.5 / 4)


def test_cycle_consistency_sums_both_directions():
    x, y = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    x_rec = torch.full_like(x, 0.5)   # forward cycle off by 0.5 everywhere
    y_rec = torch.full_like(y, -1.0)  # backward cycle off by 2
    assert float(cycle_consistency_loss(x, x_rec, y, y_rec)) == pytest.approx(0.5 + 2.0)
    assert float(cycle_consistency_loss(x, x, y, y)) == 0.0


def test_identity_compares_each_generator_with_its_own_domain():
    x, y = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    f_of_x = torch.full_like(x, 0.25)  # F should leave A images alone: off by 0.25
    g_of_y = torch.full_like(y, 1.0)   # G leaves B images alone: 0
    assert float(identity_loss(x, f_of_x, y, g_of_y)) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="lambda_identity=0"):
        identity_loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
