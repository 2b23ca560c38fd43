"""Semi-supervised GAN: a (K+1)-class discriminator that is also the classifier (Odena 2016;
Salimans et al. 2016, "Improved Techniques for Training GANs", sec. 3.1 and 5)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.data.semi_supervised import split_semi_supervised
from gan_lightning.losses import AdversarialLoss
from gan_lightning.losses.semi_supervised import (
    feature_matching_loss,
    real_logit,
    supervised_loss,
    unsupervised_loss,
)
from gan_lightning.models.classifier_state import (
    check_average_decay,
    update_average_,
    zero_average,
)
from gan_lightning.models.z_sampling import ZSamplingModule
from gan_lightning.nets.layers import frozen_batchnorm_stats

Batch = dict[str, Any]


class SemiSupervisedGAN(ZSamplingModule):
    """SGAN: D classifies an image into one of K real classes or "generated"; G is trained against it.

    Discriminator step (one per D minibatch), on logits l (N, K+1) of the labeled, unlabeled and generated images::

        L_D = L_sup(l_labeled, y) + lambda_unsup * L_unsup(l_unlabeled, l_fake)

    (:func:`~gan_lightning.losses.semi_supervised.supervised_loss`,
    :func:`~gan_lightning.losses.semi_supervised.unsupervised_loss`; Salimans 2016, sec. 5; the authors' MNIST code
    computes L_unsup on the unlabeled batch only and weights it 0.5). The real images go through D in one pass and
    the generated ones in another that leaves BatchNorm's running statistics untouched, so the statistics that
    evaluation uses describe real data only.

    Generator step::

        L_G = [feature_matching] * ||E f(x_unlabeled') - E f(G(z))||^2 + lambda_adv * loss.generator_loss(r_fake)

    with f = ``discriminator.features`` (Salimans 2016, sec. 3.1), r = log-odds of "real"
    (:func:`~gan_lightning.losses.semi_supervised.real_logit`), and x_unlabeled' the batch's ``"unlabeled_g"``
    images when the datamodule delivers that second, independently shuffled stream (``data.generator_stream``;
    the authors' code), else its ``"unlabeled"`` images. Real and generated images share one D pass (BatchNorm
    must not normalise each set on its own, which would erase the first moments feature matching compares) that
    changes no running statistic.

    With ``d_average_decay``, an average of D's parameters (starting at zero, ``a <- a + (1 - decay) (p - a)``
    after every D step, as in the authors' code) is kept in :attr:`discriminator_average` and saved in
    checkpoints; :meth:`classify` uses it. A D with ``data_dependent_init`` (the weight-normalized
    :class:`~gan_lightning.nets.sgan.SGANMLPDiscriminator`) is initialized at the start of a fresh run on
    ``init_batch_size`` train images drawn with ``data.seed`` (:class:`AdversarialModule`).

    Batches are the dicts of :class:`gan_lightning.data.semi_supervised.SemiSupervisedDataModule`; the unlabeled
    images come without labels, so no unlabeled label can reach a loss.

    Logged per step, besides ``loss/d`` and ``loss/g``: ``loss/d_supervised``, ``loss/d_unsupervised``,
    ``loss/g_feature_matching`` and/or ``loss/g_adversarial``, ``d/real_score`` (mean p(real) on the unlabeled
    real images) and ``d/fake_score`` (mean p(real) on generated images).

    Args:
        generator: z (N, latent_dim) -> images (N, C, H, W) in [-1, 1], with ``latent_dim``.
        discriminator: images -> logits (N, K+1), with ``features(x)`` (N, F), ``logits_from_features`` and
            ``num_classes`` = K (:class:`gan_lightning.nets.sgan.SGANDiscriminator` or ``SGANMLPDiscriminator``).
        loss: the ``loss`` group; only its ``generator_loss`` is used (for ``lambda_adv``). Must be
            ``non_saturating`` or ``minimax``, whose D side is L_unsup.
        lambda_unsup: weight of L_unsup in the D loss (>= 0; 1 in Salimans 2016's text, 0.5 in its code).
        feature_matching: train G with feature matching (Salimans 2016, sec. 3.1).
        lambda_adv: weight of the adversarial G term (>= 0; 0 = pure feature matching as in the paper).
        d_average_decay: decay of the averaged D that :meth:`classify` uses (None: no average; 0.9999 in the
            authors' code).
        feature_matching_reduction: ``"sum"`` over the features (the paper's squared norm) or ``"mean"`` (the
            authors' code); see :func:`~gan_lightning.losses.semi_supervised.feature_matching_loss`.
        **kwargs: :class:`ZSamplingModule` arguments (optimizers, n_critic, EMA, fixed samples, ...).

    Raises:
        ValueError: for a loss other than non_saturating / minimax, a negative ``lambda_unsup`` / ``lambda_adv``,
            no generator objective (``feature_matching`` false and ``lambda_adv`` 0), ``d_average_decay`` outside
            [0, 1), another ``feature_matching_reduction``, a discriminator without
            ``num_classes`` / ``features``, and the base-class checks.
    """

    # Generator losses the (K+1)-class model supports: their D side, softplus(-r) + softplus(f) on the real-vs-fake
    # log-odds r, is exactly the unsupervised loss of Salimans et al. (2016, sec. 5).
    supported_losses = ("non_saturating", "minimax")
    loss_hint = ("its unsupervised D loss is the (K+1)-class likelihood (Salimans 2016, sec. 5), i.e. the BCE GAN "
                 "loss")

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: AdversarialLoss,
        lambda_unsup: float = 1.0,
        feature_matching: bool = True,
        lambda_adv: float = 0.0,
        d_average_decay: float | None = None,
        feature_matching_reduction: str = "sum",
        **kwargs: Any,
    ) -> None:
        self.check_loss(loss)  # before the other checks: the loss is the likelier mistake
        if not lambda_unsup >= 0:
            raise ValueError(f"model.lambda_unsup must be >= 0, got {lambda_unsup!r}; 1.0 is the paper's weight.")
        if not lambda_adv >= 0:
            raise ValueError(f"model.lambda_adv must be >= 0, got {lambda_adv!r}; 0 is pure feature matching.")
        if not feature_matching and lambda_adv == 0:
            raise ValueError("model.feature_matching=false with model.lambda_adv=0 leaves G without an objective; "
                             "set model.feature_matching=true or model.lambda_adv > 0 (e.g. 1.0).")
        check_average_decay(d_average_decay, "model.d_average_decay")
        if feature_matching_reduction not in ("sum", "mean"):
            raise ValueError(f"model.feature_matching_reduction must be 'sum' or 'mean', got "
                             f"{feature_matching_reduction!r}.")
        for attr in ("num_classes", "features", "logits_from_features"):
            if not hasattr(discriminator, attr):
                raise ValueError(f"{type(discriminator).__name__} has no `{attr}`: SGAN needs a (K+1)-way "
                                 "discriminator such as gan_lightning.nets.sgan.SGANDiscriminator.")
        super().__init__(generator, discriminator, loss, **kwargs)
        self.num_classes = int(discriminator.num_classes)
        self.lambda_unsup = float(lambda_unsup)
        self.feature_matching = bool(feature_matching)
        self.lambda_adv = float(lambda_adv)
        self.d_average_decay = d_average_decay
        self.feature_matching_reduction = feature_matching_reduction
        self.discriminator_average = zero_average(discriminator) if d_average_decay is not None else None

    def labels_required(self) -> tuple[str, str]:
        return ("trains D as a classifier on labeled images",
                "use data=mnist_semi or fashion_mnist_semi, or an unconditional model (model=dcgan)")

    def after_discriminator_step(self) -> None:
        if self.discriminator_average is not None:
            update_average_(self.discriminator_average, self.discriminator, self.d_average_decay)

    # ----------------------------------------------------------------- hooks of the base classes
    def split_batch(self, batch: Batch) -> list[Batch]:
        """``n_critic`` D minibatches: the unlabeled images split into n_critic disjoint chunks, each paired with
        the batch's labeled minibatch (the labeled stream delivers one per batch and cycles anyway).

        Raises:
            ValueError: if the batch is not such a dict, or the unlabeled images cannot be split evenly into
                n_critic chunks.
        """
        return split_semi_supervised(batch, self.n_critic)

    def discriminator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        (x_l, y_l), x_u = batch["labeled"], batch["unlabeled"]
        n_l, n_u = x_l.shape[0], x_u.shape[0]
        with torch.no_grad():
            fake = self.generator(self.sample_latent(n_u))
        real_logits = self.discriminator(torch.cat([x_l, x_u]))
        with frozen_batchnorm_stats(self.discriminator):
            fake_logits = self.discriminator(fake)
        loss_sup = supervised_loss(real_logits[:n_l], y_l)
        loss_unsup = unsupervised_loss(real_logits[n_l:], fake_logits)
        loss = loss_sup + self.lambda_unsup * loss_unsup
        with torch.no_grad():
            logs = {
                "loss/d_supervised": loss_sup.detach(),
                "loss/d_unsupervised": loss_unsup.detach(),
                "d/real_score": torch.sigmoid(real_logit(real_logits[n_l:])).mean(),
                "d/fake_score": torch.sigmoid(real_logit(fake_logits)).mean(),
            }
        return loss, logs

    def generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x_u = batch.get("unlabeled_g", batch["unlabeled"])
        fake = self.generator(self.sample_latent(x_u.shape[0]))
        with frozen_batchnorm_stats(self.discriminator):
            features = self.discriminator.features(torch.cat([x_u, fake]))
        real_features, fake_features = features[: x_u.shape[0]].detach(), features[x_u.shape[0] :]
        loss = fake.new_zeros(())
        logs: dict[str, Tensor] = {}
        if self.feature_matching:
            fm = feature_matching_loss(real_features, fake_features, self.feature_matching_reduction)
            loss = loss + fm
            logs["loss/g_feature_matching"] = fm.detach()
        if self.lambda_adv:
            with frozen_batchnorm_stats(self.discriminator):
                adv = self.loss.generator_loss(real_logit(self.discriminator.logits_from_features(fake_features)))
            loss = loss + self.lambda_adv * adv
            logs["loss/g_adversarial"] = adv.detach()
        return loss, logs

    # ----------------------------------------------------------------- classification
    def classify(self, x: Tensor, averaged: bool = True) -> Tensor:
        """Class logits (N, K) of images (N, C, H, W) in [-1, 1]: D's K real-class logits, from the averaged D
        when there is one and ``averaged`` (the authors' evaluation), else from D itself.

        Uses the module's current train/eval mode (callers evaluate in eval mode; see
        :class:`gan_lightning.metrics.ClassifierErrorEvaluator`).
        """
        net = self.discriminator_average if averaged and self.discriminator_average is not None else self.discriminator
        return net(x)[:, : self.num_classes]
