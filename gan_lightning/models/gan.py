"""Unconditional GAN (Goodfellow et al. 2014); with DCGAN networks it is DCGAN (Radford et al. 2015).

The architecture is chosen by the `generator` / `discriminator` configs (conf/model/gan.yaml uses
MLPs, conf/model/dcgan.yaml the DCGAN convnets); the objective by the `loss` group.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_lightning.models.z_sampling import ZSamplingModule


class GAN(ZSamplingModule):
    """Unconditional GAN: z from G's prior (N(0, I) unless G sets ``latent_distribution``) -> G(z); D scores real
    vs generated images.

    Logged per step, besides `loss/d` and `loss/g`: `d/real_score` and `d/fake_score`, the mean
    of `loss.score(D(x))` and `loss.score(D(G(z)))` (probabilities for the BCE losses, about 0.5
    each at equilibrium; raw critic values for lsgan / hinge / wgan_gp), and `loss/gp` when the
    loss has a regularizer (WGAN-GP's gradient penalty).
    """

    supported_losses = ("minimax", "non_saturating", "lsgan", "hinge", "wgan_gp")
    applies_loss_regularizer = True  # discriminator_loss adds loss.regularizer

    def discriminator_loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        real, _ = batch
        with torch.no_grad():
            fake = self.generator(self.sample_latent(real.shape[0]))
        return self.adversarial_d_loss(self.discriminator(real), self.discriminator(fake), self.discriminator, real, fake)

    def generator_loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        real, _ = batch
        fake = self.generator(self.sample_latent(real.shape[0]))
        return self.loss.generator_loss(self.discriminator(fake)), {}
