"""Pix2Pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks")."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.losses import AdversarialLoss
from gan_lightning.losses.translation import l1_loss
from gan_lightning.models.translation import Batch, TranslationModule


class Pix2Pix(TranslationModule):
    """Conditional GAN on paired images: G (a U-Net) maps x (N, C_A, H, W) to y (N, C_B, H, W), both in [-1, 1];
    D (a PatchGAN) sees x concatenated with y, or y alone when unconditional.

    Objective (sec. 3.1, eq. 4): ``G* = arg min_G max_D lambda_gan * L_cGAN(G, D) + lambda_l1 * L_L1(G)`` with
    ``L_L1 = E ||y - G(x)||_1``. D's loss is multiplied by ``d_loss_scale`` (0.5: "we divide the objective by 2
    while optimizing D", sec. 3.3); G uses the loss group's generator loss (``non_saturating``: the paper maximizes
    log D(x, G(x)), sec. 3.3). The noise is dropout in G's decoder (sec. 3.1), kept on at test time unless
    ``test_dropout`` is false.

    The ablations of the paper's tables 1-3 (L1 only, cGAN only, GAN, L1 + GAN, L1 + cGAN, receptive field,
    encoder-decoder) are config values, listed once in README.md, section "Image-to-image translation".

    Logged per step besides ``loss/d`` and ``loss/g``: ``loss/g_gan``, ``loss/g_l1``, ``d/real_score`` and
    ``d/fake_score`` (mean D output through ``loss.score``).

    Args:
        generator: x (N, C_A, H, W) -> (N, C_B, H, W) in [-1, 1] (:class:`gan_lightning.nets.unet.UNetGenerator`).
        discriminator: (N, C_A + C_B, H, W) (conditional) or (N, C_B, H, W) -> logits map (N, 1, h, w)
            (:class:`gan_lightning.nets.patchgan.PatchGANDiscriminator`).
        loss: the adversarial loss (``loss`` group): minimax, non_saturating, lsgan or hinge (``supported_losses``).
        lambda_l1: weight of the L1 term (100 in the paper, sec. 4).
        lambda_gan: weight of G's adversarial term (1; 0 = L1 only).
        conditional_d: D sees the input x (cGAN) or only y (GAN).
        d_loss_scale: factor on D's loss (0.5 in the paper).
        test_dropout: keep G's dropout active when translating outside training (the paper's test-time noise).
        **kwargs: :class:`AdversarialModule` arguments (optimizers, schedulers, n_critic, EMA, ...).

    Raises:
        ValueError: negative weights, both weights 0, ``d_loss_scale <= 0``, or an unsupported loss (wgan_gp).
    """

    # No regularizer: D's loss adds no loss.regularizer term, so WGAN-GP (whose critic needs its gradient penalty)
    # is refused rather than trained without the penalty.
    supported_losses = ("minimax", "non_saturating", "lsgan", "hinge")
    loss_hint = "its D loss does not add WGAN-GP's gradient penalty"

    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss: AdversarialLoss,
                 lambda_l1: float = 100.0, lambda_gan: float = 1.0, conditional_d: bool = True,
                 d_loss_scale: float = 0.5, test_dropout: bool = True, **kwargs: Any) -> None:
        for key, value in (("lambda_l1", lambda_l1), ("lambda_gan", lambda_gan)):
            if not value >= 0:
                raise ValueError(f"model.{key} must be >= 0, got {value!r}.")
        if lambda_l1 == 0 and lambda_gan == 0:
            raise ValueError("model.lambda_l1=0 and model.lambda_gan=0 leave G without an objective; the paper's "
                             "default is lambda_l1=100, lambda_gan=1.")
        if not d_loss_scale > 0:
            raise ValueError(f"model.d_loss_scale must be > 0, got {d_loss_scale!r}; the paper halves D's loss (0.5).")
        c_in = getattr(discriminator, "in_channels", None)
        c_a, c_b = getattr(generator, "in_channels", None), getattr(generator, "out_channels", None)
        if None not in (c_in, c_a, c_b) and c_in != (c_a + c_b if conditional_d else c_b):
            raise ValueError(f"model.discriminator.in_channels={c_in} but D sees {'x and y' if conditional_d else 'y only'} "
                             f"({c_a + c_b if conditional_d else c_b} channels) with model.conditional_d={conditional_d}; "
                             "keep conf/model/pix2pix.yaml's ${d_in_channels:...} interpolation.")
        super().__init__(generator, discriminator, loss, **kwargs)
        self.lambda_l1, self.lambda_gan = float(lambda_l1), float(lambda_gan)
        self.conditional_d, self.d_loss_scale, self.test_dropout = bool(conditional_d), float(d_loss_scale), bool(test_dropout)

    @property
    def uses_discriminator(self) -> bool:
        return self.lambda_gan > 0

    def d_input(self, x: Tensor, y: Tensor) -> Tensor:
        """D's input: x and y concatenated on channels (cGAN), or y alone (unconditional ablation)."""
        return torch.cat([x, y], dim=1) if self.conditional_d else y

    def discriminator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x, y = batch["A"], batch["B"]
        with torch.no_grad():
            fake = self.generator(x)
        real_logits = self.discriminator(self.d_input(x, y))
        fake_logits = self.discriminator(self.d_input(x, fake))
        loss = self.d_loss_scale * self.loss.discriminator_loss(real_logits, fake_logits)
        with torch.no_grad():
            logs = {"d/real_score": self.loss.score(real_logits).mean(), "d/fake_score": self.loss.score(fake_logits).mean()}
        return loss, logs

    def generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x, y = batch["A"], batch["B"]
        fake = self.generator(x)
        l1 = l1_loss(fake, y)
        loss = self.lambda_l1 * l1
        logs = {"loss/g_l1": l1.detach()}
        if self.lambda_gan:
            gan = self.loss.generator_loss(self.discriminator(self.d_input(x, fake)))
            loss = loss + self.lambda_gan * gan
            logs["loss/g_gan"] = gan.detach()
        return loss, logs

    def prepare_for_inference(self, net: nn.Module) -> None:
        if self.test_dropout:
            for m in net.modules():
                if isinstance(m, nn.Dropout):
                    m.train()

    @torch.no_grad()
    def fixed_parts(self, index: Tensor) -> list[Tensor]:
        """Grid rows input | output | target of the fixed test pairs ``index``, each (n, C, H, W) in [-1, 1]."""
        x, y = self.fixed_batch["A"][index], self.fixed_batch["B"][index]
        return [x, self.translate(x), y]
