"""Adversarial losses for the classic GAN family.

Every loss works on *raw logits* (pre-sigmoid discriminator outputs) of shape (N,) or
(N, ...) -- e.g. a PatchGAN map (N, 1, H, W) -- and returns a scalar averaged over the
batch and all remaining dims. BCE-style terms use ``F.softplus`` so that large
logits never produce ``log(0)``: ``-log(sigmoid(x)) == softplus(-x)`` and
``-log(1 - sigmoid(x)) == softplus(x)``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


class AdversarialLoss:
    """Base class: a pair of discriminator / generator objectives plus optional D regularizer.

    Plain Python class (no parameters, no state besides hyper-parameters) so it can be
    instantiated from Hydra and shared by any LightningModule.
    """

    name: str = "base"

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """D objective (to minimize) from logits on real and fake samples, each (N,) or (N, ...)."""
        raise NotImplementedError

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """G objective (to minimize) from D's logits on generated samples, (N,) or (N, ...)."""
        raise NotImplementedError

    def score(self, logits: Tensor) -> Tensor:
        """What to log as "D(x)": the raw critic value by default (lsgan / hinge / wgan)."""
        return logits

    def regularizer(self, discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor | None:
        """Extra term added to the D loss (e.g. a gradient penalty); ``None`` when there is none."""
        return None

    @property
    def has_regularizer(self) -> bool:
        """Whether :meth:`regularizer` adds a term to the D loss (a subclass overrides it, e.g. WGAN-GP's gradient
        penalty): a model whose D loss does not call it must refuse such a loss."""
        return type(self).regularizer is not AdversarialLoss.regularizer

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _BCELoss(AdversarialLoss):
    """Shared D side of the original GAN: ``-log D(x) - log(1 - D(G(z)))`` with D = sigmoid(logit).

    Args:
        label_smoothing: s in [0, 1): D's target for real images is 1 - s, for fakes still 0 (one-sided label
            smoothing, Salimans et al. 2016, sec. 3.4, who use 0.9 targets: s = 0.1). The real term becomes
            ``-(1 - s) log D(x) - s log(1 - D(x))``, minimal at D(x) = 1 - s, so D's logits on real images stop
            growing past logit(1 - s).

    Raises:
        ValueError: ``label_smoothing`` outside [0, 1).
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        if not 0.0 <= label_smoothing < 1.0:  # also rejects NaN
            raise ValueError(f"loss.label_smoothing must be in [0, 1), got {label_smoothing!r}; e.g. 0.1 for "
                             "Salimans 2016's 0.9 targets, or 0 to turn it off.")
        self.label_smoothing = float(label_smoothing)

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        s = self.label_smoothing
        real = F.softplus(-real_logits).mean() if s == 0 else F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, 1.0 - s))
        return real + F.softplus(fake_logits).mean()

    def score(self, logits: Tensor) -> Tensor:
        """Probability that the input is real, in (0, 1); ~0.5 at the equilibrium."""
        return torch.sigmoid(logits)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(label_smoothing={self.label_smoothing})"


class MinimaxLoss(_BCELoss):
    """Original minimax GAN loss (Goodfellow et al. 2014, eq. 1).

    D minimizes ``softplus(-r) + softplus(f)`` = ``-log D(x) - log(1 - D(G(z)))``.
    G minimizes ``log(1 - D(G(z)))`` = ``-softplus(f)``; its gradient vanishes when D
    confidently rejects fakes (f << 0), which is why the paper suggests the
    non-saturating variant in practice.

    Inputs: logits of shape (N,) or (N, ...). Returns: scalar tensors.
    """

    name = "minimax"

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return -F.softplus(fake_logits).mean()


class NonSaturatingLoss(_BCELoss):
    """Non-saturating GAN loss (Goodfellow et al. 2014, sec. 3).

    D: same as :class:`MinimaxLoss`. G minimizes ``-log D(G(z))`` = ``softplus(-f)``,
    which has strong gradients early in training when D rejects fakes.

    Inputs: logits of shape (N,) or (N, ...). Returns: scalar tensors.
    """

    name = "non_saturating"

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return F.softplus(-fake_logits).mean()


class LSGANLoss(AdversarialLoss):
    """Least-squares GAN (Mao et al. 2017, eq. 2 with a=0, b=1, c=1).

    D: ``scale * (mean((r - 1)^2) + mean(f^2))``; G: ``scale * mean((f - 1)^2)``.
    Inputs: raw D outputs (N,) or (N, ...), no sigmoid. Returns: scalar tensors.

    Args:
        scale: 0.5 is the 1/2 of Mao 2017, eq. 2; CycleGAN (Zhu 2017, sec. 4) uses 1 and halves only D's loss.

    Raises:
        ValueError: ``scale <= 0``.
    """

    name = "lsgan"

    def __init__(self, scale: float = 0.5) -> None:
        if not scale > 0:
            raise ValueError(f"loss.scale must be > 0, got {scale!r}; 0.5 as in Mao 2017.")
        self.scale = float(scale)

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return self.scale * ((real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean())

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return self.scale * (fake_logits - 1).pow(2).mean()

    def __repr__(self) -> str:
        return f"LSGANLoss(scale={self.scale})"


class HingeLoss(AdversarialLoss):
    """Hinge GAN loss (Lim & Ye 2017 "Geometric GAN"; Miyato et al. 2018 "Spectral Normalization").

    D: ``mean(relu(1 - r)) + mean(relu(1 + f))``; G: ``-mean(f)``.
    Inputs: raw D outputs (N,) or (N, ...). Returns: scalar tensors.
    """

    name = "hinge"

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()


def gradient_penalty(discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP penalty ``mean((||grad_x̂ D(x̂)||_2 - 1)^2)`` (Gulrajani et al. 2017, Alg. 1).

    ``x̂ = eps * real + (1 - eps) * fake`` with one ``eps ~ U[0, 1]`` per sample.
    ``real`` / ``fake``: tensors of identical shape (N, ...) of any rank >= 1; ``fake`` is
    detached so the penalty only trains D. The graph is kept (``create_graph=True``) so the
    result can be back-propagated into D's parameters. Returns a scalar (without lambda).
    Raises ValueError if the shapes differ.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    real, fake = real.detach(), fake.detach()
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = discriminator(x_hat)
    # Samples are independent, so grad of the sum gives each sample's own gradient.
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return (norm - 1).pow(2).mean()


class WGANGPLoss(AdversarialLoss):
    """Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, Alg. 1).

    D (critic): ``mean(f) - mean(r)``; G: ``-mean(f)``; regularizer:
    ``lambda_gp * gradient_penalty(D, real, fake)``. The paper trains D ``n_critic = 5``
    steps per G step and avoids BatchNorm in the critic.

    Args:
        lambda_gp: penalty weight, >= 0 (paper: 10). Raises ValueError otherwise.
    Inputs: raw critic outputs (N,) or (N, ...). Returns: scalar tensors.
    """

    name = "wgan_gp"

    def __init__(self, lambda_gp: float = 10.0) -> None:
        if not lambda_gp >= 0:  # also rejects NaN
            raise ValueError(f"lambda_gp must be >= 0, got {lambda_gp}")
        self.lambda_gp = float(lambda_gp)

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()

    def regularizer(self, discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor | None:
        return self.lambda_gp * gradient_penalty(discriminator, real, fake)

    def __repr__(self) -> str:
        return f"WGANGPLoss(lambda_gp={self.lambda_gp})"
