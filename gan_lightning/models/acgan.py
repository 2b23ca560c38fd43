"""ACGAN (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs", ICML).

G(z, c) draws class c; D sees only the image and answers two questions: its source S (real or fake) and its class
C (sec. 3). With L_S = E[log P(S=real | X_real)] + E[log P(S=fake | X_fake)] and
L_C = E[log P(C=c | X_real)] + E[log P(C=c | X_fake)], D maximizes L_S + L_C and G maximizes L_C - L_S. Here
L_S is the configured adversarial loss (`loss` group; the paper's is the minimax / non-saturating BCE) and L_C
the cross-entropy of D's class logits, weighted by `class_loss_weight` (the paper: 1).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.models.cgan import ConditionalGAN


class ACGAN(ConditionalGAN):
    """ACGAN: a :class:`ConditionalGAN` whose D classifies instead of taking the label as input.

    Labels, sampling, class grids, the data checks and ``supported_losses`` (all five; WGAN-GP's penalty acts on the
    source logit) are the cGAN's (fakes use the batch's labels).

    Minimized per step (CE: cross-entropy, minus L_C; lambda: ``class_loss_weight``):
      * D: ``loss.discriminator_loss(src(x), src(G(z, y)))`` + lambda * (CE(cls(x), y) + CE(cls(G(z, y)), y)),
        plus ``loss.regularizer`` on the source logit (WGAN-GP).
      * G: ``loss.generator_loss(src(G(z, y)))`` + lambda * CE(cls(G(z, y)), y).

    Logged besides `loss/d`, `loss/g`: `d/real_score`, `d/fake_score`, `loss/d_class`, `loss/g_class`,
    `d/real_class_acc` (D's classifier on the real minibatch), `loss/gp` with WGAN-GP.

    Args:
        generator: `forward(z (N, latent_dim), y (N,) int64) -> (N, C, H, W)` in [-1, 1], with `latent_dim`.
        discriminator: `forward(x (N, C, H, W)) -> (source logits (N,), class logits (N, K))`.
        class_loss_weight: lambda >= 0 on L_C in both losses (0: a GAN whose G still takes labels).
        **kwargs: :class:`ConditionalGAN` arguments (num_classes, loss, optimizers, n_critic, EMA, ...).

    Raises:
        ValueError: ``class_loss_weight < 0``, and everything :class:`ConditionalGAN` raises.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, class_loss_weight: float = 1.0,
                 **kwargs: Any) -> None:
        if not class_loss_weight >= 0:
            raise ValueError(f"model.class_loss_weight must be >= 0, got {class_loss_weight!r}; the paper uses 1.0.")
        super().__init__(generator, discriminator, **kwargs)
        self.class_loss_weight = float(class_loss_weight)

    def classify(self, x: Tensor) -> Tensor:
        """D's class logits (N, K) for images x (N, C, H, W) in [-1, 1] (the auxiliary classifier)."""
        return self.discriminator(x)[1]

    def discriminator_loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        real, labels = batch
        with torch.no_grad():
            fake = self.generator(self.sample_latent(real.shape[0]), labels)
        real_src, real_cls = self.discriminator(real)
        fake_src, fake_cls = self.discriminator(fake)
        class_loss = F.cross_entropy(real_cls, labels) + F.cross_entropy(fake_cls, labels)
        loss, logs = self.adversarial_d_loss(real_src, fake_src, lambda x: self.discriminator(x)[0], real, fake)
        logs["loss/d_class"] = class_loss.detach()
        logs["d/real_class_acc"] = (real_cls.detach().argmax(1) == labels).float().mean()
        return loss + self.class_loss_weight * class_loss, logs

    def generator_loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        real, labels = batch
        fake_src, fake_cls = self.discriminator(self.generator(self.sample_latent(real.shape[0]), labels))
        class_loss = F.cross_entropy(fake_cls, labels)
        loss = self.loss.generator_loss(fake_src) + self.class_loss_weight * class_loss
        return loss, {"loss/g_class": class_loss.detach()}


__all__ = ["ACGAN"]
