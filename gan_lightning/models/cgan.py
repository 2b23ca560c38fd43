"""Conditional GAN (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets").

G and D both receive the class label y: min_G max_D E[log D(x|y)] + E[log(1 - D(G(z|y)|y))] (sec. 3.2,
eq. 2). The networks come from conf/model/cgan.yaml (DCGAN convnets, the default) or cgan_mlp.yaml (the
paper's MLPs, sec. 4.1); the objective from the `loss` group, as for the unconditional GAN.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.models.z_sampling import ZSamplingModule


class ConditionalGAN(ZSamplingModule):
    """cGAN: G(z, y) with z ~ N(0, I); D(x, y) scores image-label pairs.

    Label sources:
      * D step: real pairs (x, y) from the batch; the fakes are G(z, y) with the *same* labels y, so fakes
        follow the data's label distribution (the p_data(y) of eq. 2) and D cannot tell them apart by label
        frequency alone.
      * G step: the labels of the batch's last D minibatch, i.e. again drawn from the data's label
        distribution.
      * Sampling (`generate`, metrics, the sample CLI's grid mode): labels uniform over the K classes.
      * The fixed grid batch: class-balanced, labels `arange(num_fixed_samples) % K`, so with
        `callbacks.sample_grid.nrow=K` every grid row shows classes 0..K-1 in order.

    Logged per step besides `loss/d`, `loss/g`: `d/real_score`, `d/fake_score` (as :class:`GAN`), and
    `loss/gp` for losses with a regularizer (WGAN-GP interpolates images and keeps each pair's label).

    Args:
        generator: `forward(z (N, latent_dim), y (N,) int64) -> (N, C, H, W)` in [-1, 1], with `latent_dim`.
        discriminator: `forward(x (N, C, H, W), y (N,) int64) -> logits (N,)`.
        **kwargs: :class:`ZSamplingModule` arguments (loss, optimizers, n_critic, EMA, ...); every loss of
            conf/loss, WGAN-GP's penalty included.
        num_classes: K, the number of classes (>= 2); must match the networks' and the datamodule's.

    Raises:
        ValueError: `num_classes < 2`, or a network whose `num_classes` differs; at fit setup, a datamodule
            whose `num_classes` differs or that has no labels (`check_data`).
    """

    supported_losses = ("minimax", "non_saturating", "lsgan", "hinge", "wgan_gp")
    applies_loss_regularizer = True  # discriminator_loss adds loss.regularizer, each pair keeping its label
    class_conditional = True

    def __init__(self, generator: nn.Module, discriminator: nn.Module, num_classes: int = 10, **kwargs: Any) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"model.num_classes must be an integer >= 2, got {num_classes!r}: set it to the "
                             "dataset's number of classes, e.g. model.num_classes=10 for MNIST.")
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            if getattr(net, "num_classes", num_classes) != num_classes:
                raise ValueError(f"model.{name}.num_classes={net.num_classes} differs from model.num_classes="
                                 f"{num_classes}; set model.{name}.num_classes: ${{model.num_classes}}.")
        super().__init__(generator, discriminator, **kwargs)
        self.num_classes = num_classes
        # The fixed grid's labels: balanced, in the base's `fixed_condition` buffer (saved in checkpoints).
        self.fixed_condition = self.class_balanced_labels(self.num_fixed_samples)

    def labels_required(self) -> tuple[str, str]:
        return ("conditions G and D on class labels",
                "use a labeled dataset (data=mnist, fashion_mnist or cifar10) or an unconditional model (model=dcgan)")

    # ----------------------------------------------------------------- conditioning
    def sample_condition(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Labels (n,) int64, uniform over [0, num_classes), drawn with `generator` (the global RNG if None)."""
        device = generator.device if generator is not None else self.device
        return torch.randint(0, self.num_classes, (n,), generator=generator, device=device)

    def class_balanced_labels(self, n: int) -> Tensor:
        """Labels (n,) int64 `arange(n) % num_classes`: 0, 1, ..., K-1, 0, 1, ... (no randomness)."""
        return torch.arange(n, device=self.device) % self.num_classes

    def generate_with(self, net: nn.Module, z: Tensor, condition: Tensor | None) -> Tensor:
        """Images (N, C, H, W) in [-1, 1] from `net` (G or its EMA), z (N, latent_dim) and labels (N,).

        Raises:
            ValueError: if `condition` is None (a cGAN needs labels; see `sample_condition`).
        """
        if condition is None:
            raise ValueError("ConditionalGAN needs class labels: pass condition=labels (N,) int64, "
                             "e.g. model.sample_condition(N) or model.class_balanced_labels(N).")
        return net(z, condition.to(z.device))

    # ----------------------------------------------------------------- losses
    def discriminator_loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        real, labels = batch
        with torch.no_grad():
            fake = self.generator(self.sample_latent(real.shape[0]), labels)
        return self.adversarial_d_loss(self.discriminator(real, labels), self.discriminator(fake, labels),
                                       lambda x: self.discriminator(x, labels), real, fake)

    def generator_loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        real, labels = batch
        fake = self.generator(self.sample_latent(real.shape[0]), labels)
        return self.loss.generator_loss(self.discriminator(fake, labels)), {}


__all__ = ["ConditionalGAN"]
