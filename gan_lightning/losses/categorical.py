"""Categorical GAN objective (Springenberg 2016, "Unsupervised and Semi-supervised Learning with
Categorical Generative Adversarial Networks", eq. 7 and its batch estimate eq. 8).

The discriminator is a K-way classifier with logits (N, K) and no "fake" class. Its class
posterior p(y|x, D) = softmax(logits) replaces the real/fake probability of the classic GAN:

* D wants to be *certain* about real data (low conditional entropy H[p(y|x, D)]), *uncertain*
  about generated data (high H[p(y|G(z), D)]) and to use all K classes equally often on real data
  (high marginal entropy H[p(y|D)], p(y|D) estimated by the batch mean of p(y|x, D)).
* G wants D to be certain about its samples and its samples to cover all classes equally.

Every entropy is in nats and computed from logits with ``log_softmax`` (and ``logsumexp`` for the
batch marginal), so saturated logits never produce ``0 * log 0 = nan``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lightning.losses.adversarial import AdversarialLoss


def _check_logits(logits: Tensor) -> None:
    if logits.dim() != 2 or logits.shape[0] < 1 or logits.shape[1] < 2:
        raise ValueError(f"logits must be (N, K) with N >= 1 and K >= 2, got shape {tuple(logits.shape)}")


def entropy(logits: Tensor) -> Tensor:
    """Per-row entropy H[softmax(logits)] = -sum_k p_k log p_k, shape (N,), in [0, log K] nats.

    Raises:
        ValueError: if ``logits`` is not (N, K) with K >= 2.
    """
    _check_logits(logits)
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


def conditional_entropy(logits: Tensor) -> Tensor:
    """Batch estimate of E_x[H[p(y|x, D)]] (eq. 8): the mean of the row entropies, a scalar in [0, log K].

    Args:
        logits: D's class logits (N, K).

    Raises:
        ValueError: if ``logits`` is not (N, K) with K >= 2.
    """
    return entropy(logits).mean()


def marginal_entropy(logits: Tensor) -> Tensor:
    """Batch estimate of H[p(y|D)] (eq. 8): the entropy of p(y) = mean_i softmax(logits_i), a scalar in [0, log K].

    ``log p(y) = logsumexp_i log p(y|x_i) - log N``, so classes no row predicts contribute exactly 0.

    Args:
        logits: D's class logits (N, K).

    Raises:
        ValueError: if ``logits`` is not (N, K) with K >= 2.
    """
    _check_logits(logits)
    log_p = F.log_softmax(logits, dim=1)
    log_marginal = torch.logsumexp(log_p, dim=0) - math.log(logits.shape[0])
    return -(log_marginal.exp() * log_marginal).sum()


GENERATOR_OBJECTIVES = ("entropy", "non_saturating")


class CategoricalLoss(AdversarialLoss):
    """CatGAN objective (Springenberg 2016, eq. 7 / 8) on K-way logits (N, K), both minimized:

    * D: ``L_D = H_cond(real) - H_marg(real) - H_cond(fake)``
      (certain on real data, all classes used equally on real data, uncertain on generated data);
    * G, ``generator_objective="entropy"`` (the paper's eq. 7): ``L_G = H_cond(fake) - H_marg(fake)``
      (generated samples classified with certainty, evenly over the classes);
    * G, ``"non_saturating"`` (ours): ``L_G = CE(fake logits, their argmax) - H_marg(fake)``. The entropy's gradient
      vanishes where D wins, at a uniform posterior on generated images; the cross-entropy to D's own top class
      keeps a gradient of size ``1 - 1/K`` there, as Goodfellow 2014 (sec. 3) swaps ``log(1 - D(G(z)))`` for
      ``-log D(G(z))``. Both reach their minimum at one-hot posteriors spread evenly over the classes.

    The cross-entropy term of the paper's semi-supervised extension is added by the model (it needs labels).
    Entropies are in nats, so ``L_D`` is in [-2 log K, log K] and the entropy ``L_G`` in [-log K, log K].

    Args:
        generator_objective: ``"entropy"`` or ``"non_saturating"``.

    Raises:
        ValueError: an unknown ``generator_objective``.
    """

    name = "categorical"

    def __init__(self, generator_objective: str = "entropy") -> None:
        if generator_objective not in GENERATOR_OBJECTIVES:
            raise ValueError(f"loss.generator_objective must be one of {GENERATOR_OBJECTIVES}, got "
                             f"{generator_objective!r}.")
        self.generator_objective = generator_objective

    def __repr__(self) -> str:
        return f"{type(self).__name__}(generator_objective={self.generator_objective!r})"

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """``H_cond(real) - H_marg(real) - H_cond(fake)`` from logits (N, K) and (M, K); a scalar."""
        return conditional_entropy(real_logits) - marginal_entropy(real_logits) - conditional_entropy(fake_logits)

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """``H_cond(fake) - H_marg(fake)`` (or its non-saturating form, above) from logits (M, K); a scalar."""
        _check_logits(fake_logits)
        if self.generator_objective == "entropy":
            certainty = conditional_entropy(fake_logits)
        else:
            certainty = F.cross_entropy(fake_logits, fake_logits.detach().argmax(dim=1))
        return certainty - marginal_entropy(fake_logits)

    def score(self, logits: Tensor) -> Tensor:
        """Per-sample confidence ``1 - H[p(y|x, D)] / log K`` in [0, 1], shape (N,).

        1 for a one-hot posterior (D "recognizes" the sample), 0 for a uniform one; D drives it up
        on real data and down on generated data, like D(x) of the classic GAN.
        """
        return 1.0 - entropy(logits) / math.log(logits.shape[1])
