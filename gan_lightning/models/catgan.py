"""Categorical GAN (Springenberg 2016, "Unsupervised and Semi-supervised Learning with Categorical
Generative Adversarial Networks"): D is a K-way classifier trained against G with entropy terms.

Unsupervised (the paper's CatGAN objective) D learns to cluster the data into K balanced, confidently
predicted categories that generated samples cannot imitate; semi-supervised (the paper's semi-supervised
extension) a cross-entropy term on a few labeled images ties those categories to the real classes. The objective is
`gan_lightning.losses.categorical.CategoricalLoss`; the D/G loop, EMA and checkpoint state are the
base class's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.data.semi_supervised import split_semi_supervised
from gan_lightning.losses.adversarial import AdversarialLoss
from gan_lightning.losses.categorical import CategoricalLoss, conditional_entropy, marginal_entropy
from gan_lightning.models.base import OptimizerFactory
from gan_lightning.models.z_sampling import ZSamplingModule
from gan_lightning.nets.layers import frozen_batchnorm_stats

MODES = ("unsupervised", "semi_supervised")


class CatGAN(ZSamplingModule):
    """CatGAN: unconditional G, z ~ N(0, I) -> G(z) (N, C, H, W) in [-1, 1]; D: images -> K logits (N, K).

    Losses (both minimized; entropies in nats, batch estimates of eq. 8):

    * D: ``H_cond(real) - H_marg(real) - H_cond(fake)`` (eq. 7), plus in semi-supervised mode
      ``lambda_ce * CE(D(x_l), y_l)`` on the labeled minibatch (the paper's lambda);
    * G: ``H_cond(fake) - H_marg(fake)``.

    Batches:

    * ``mode="unsupervised"``: ``(images, labels)`` from the plain datamodules. The labels are dropped
      in :meth:`split_batch`, before any loss sees the batch: training is unsupervised.
    * ``mode="semi_supervised"``: ``{"labeled": (x_l, y_l), "unlabeled": x_u}`` from
      `gan_lightning.data.semi_supervised` with x_l (B, C, H, W), y_l int64 (B,), x_u (n_critic * B, C, H, W),
      images in [-1, 1]. Each of the n_critic D steps gets its own B unlabeled images and the batch's
      labeled minibatch.

    Generated images pass through D in train mode (batch statistics) but leave its BatchNorm running statistics
    untouched, so the classifier evaluated in eval mode normalises with statistics of real images only.

    Logged per step besides ``loss/d`` and ``loss/g``: ``d/real_cond_entropy``, ``d/real_marginal_entropy``,
    ``d/fake_cond_entropy`` (D step) and ``g/fake_cond_entropy``, ``g/fake_marginal_entropy`` (G step), all in
    [0, log K]; ``d/real_score`` / ``d/fake_score``, D's mean confidence ``1 - H[p(y|x)] / log K`` in [0, 1] on
    real / generated images (D pushes real towards 1 and fake towards 0, like D(x) of the classic GAN);
    in semi-supervised mode ``loss/ce`` (the unweighted cross-entropy) and ``d/labeled_accuracy``.

    Args:
        generator, discriminator, optimizer_g, optimizer_d, **kwargs: see `ZSamplingModule`;
            ``discriminator`` maps (N, C, H, W) to logits (N, num_classes)
            (e.g. `gan_lightning.nets.catgan.CatGANDiscriminator`).
        num_classes: K, the number of categories (>= 2).
        mode: ``"unsupervised"`` or ``"semi_supervised"``.
        lambda_ce: weight of the labeled cross-entropy (the paper's lambda, >= 0); unused when unsupervised.
        loss: the categorical objective (``supported_losses``: `CategoricalLoss` only); None builds one.

    Raises:
        ValueError: bad ``mode``, ``num_classes``, ``lambda_ce``; a ``loss`` that is not the `CategoricalLoss`;
            a discriminator whose ``num_classes`` differs; at fit time a batch of the other mode's structure, or
            (semi-supervised) a datamodule with a different number of classes.
    """

    supported_losses = ("categorical",)  # its own objective, not one of conf/loss
    loss_hint = ("it trains with its categorical objective: set "
                 "loss._target_=gan_lightning.losses.categorical.CategoricalLoss (the catgan_* experiments do)")

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        num_classes: int = 10,
        mode: str = "unsupervised",
        lambda_ce: float = 1.0,
        loss: AdversarialLoss | None = None,
        **kwargs: Any,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"model.mode must be one of {MODES}, got {mode!r}.")
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"model.num_classes must be an integer >= 2, got {num_classes!r}.")
        if not lambda_ce >= 0:  # also rejects NaN
            raise ValueError(f"model.lambda_ce must be >= 0, got {lambda_ce!r}; the paper's lambda weights the "
                             "labeled cross-entropy, e.g. model.lambda_ce=1.0.")
        loss = CategoricalLoss() if loss is None else loss
        self.check_loss(loss)
        d_classes = getattr(discriminator, "num_classes", num_classes)
        if d_classes != num_classes:
            raise ValueError(f"model.num_classes={num_classes} but the discriminator outputs {d_classes} logits; "
                             "set model.discriminator.num_classes=${model.num_classes}.")
        super().__init__(generator, discriminator, loss, optimizer_g, optimizer_d, **kwargs)
        self.num_classes, self.mode, self.lambda_ce = num_classes, mode, float(lambda_ce)

    # ----------------------------------------------------------------- classifier
    def classify(self, x: Tensor) -> Tensor:
        """D's class logits (N, num_classes) for images x (N, C, H, W) in [-1, 1].

        Runs in the module's current train/eval mode (the evaluation callbacks switch to eval first).
        """
        return self.discriminator(x)

    def labels_required(self) -> tuple[str, str] | None:
        if self.mode != "semi_supervised":
            return None
        return ("with model.mode=semi_supervised trains D on labeled images",
                "use data=mnist_semi or fashion_mnist_semi, or model.mode=unsupervised (experiment=catgan_mnist_unsup)")

    def setup(self, stage: str) -> None:
        super().setup(stage)
        data_classes = getattr(self.trainer.datamodule, "num_classes", None)
        if self.mode == "semi_supervised" and data_classes is not None and data_classes != self.num_classes:
            raise ValueError(f"model.num_classes={self.num_classes} but the data has {data_classes} classes; "
                             f"set model.num_classes={data_classes}.")

    # ----------------------------------------------------------------- batches
    def split_batch(self, batch: Any) -> list[Any]:
        """Unsupervised: n_critic image chunks (N / n_critic, C, H, W), labels dropped.
        Semi-supervised: n_critic dicts ``{"unlabeled": x_u chunk, "labeled": (x_l, y_l)}``.

        Raises:
            ValueError: the batch has the other mode's structure, or cannot be split into n_critic parts.
        """
        if self.mode == "unsupervised":
            if isinstance(batch, dict):
                raise ValueError("model.mode='unsupervised' expects (images, labels) batches, got a semi-supervised "
                                 "dict batch; use data=mnist / fashion_mnist, or model.mode=semi_supervised.")
            return [images for images, _labels in super().split_batch(batch)]
        return split_semi_supervised(batch, self.n_critic)

    def _real(self, batch: Any) -> Tensor:
        return batch["unlabeled"] if isinstance(batch, dict) else batch

    # ----------------------------------------------------------------- losses
    def discriminator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        real = self._real(batch)
        with torch.no_grad():
            fake = self.generator(self.sample_latent(real.shape[0]))
        real_logits = self.discriminator(real)
        with frozen_batchnorm_stats(self.discriminator):
            fake_logits = self.discriminator(fake)
        loss = self.loss.discriminator_loss(real_logits, fake_logits)
        with torch.no_grad():
            r, f = real_logits.detach(), fake_logits.detach()
            logs = {
                "d/real_cond_entropy": conditional_entropy(r),
                "d/real_marginal_entropy": marginal_entropy(r),
                "d/fake_cond_entropy": conditional_entropy(f),
                "d/real_score": self.loss.score(r).mean(),
                "d/fake_score": self.loss.score(f).mean(),
            }
        if isinstance(batch, dict):
            x_l, y_l = batch["labeled"]
            labeled_logits = self.discriminator(x_l)
            ce = F.cross_entropy(labeled_logits, y_l)
            loss = loss + self.lambda_ce * ce
            logs["loss/ce"] = ce.detach()
            logs["d/labeled_accuracy"] = (labeled_logits.detach().argmax(1) == y_l).float().mean()
        return loss, logs

    def generator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        fake = self.generator(self.sample_latent(self._real(batch).shape[0]))
        with frozen_batchnorm_stats(self.discriminator):
            fake_logits = self.discriminator(fake)
        loss = self.loss.generator_loss(fake_logits)
        with torch.no_grad():
            f = fake_logits.detach()
            logs = {"g/fake_cond_entropy": conditional_entropy(f), "g/fake_marginal_entropy": marginal_entropy(f)}
        return loss, logs
