"""Losses of the semi-supervised GAN with a (K+1)-way discriminator (Odena 2016; Salimans et al. 2016, sec. 5).

The discriminator outputs logits ``l`` of shape (N, K+1): columns ``0..K-1`` are the real classes,
column ``K`` is "generated". With ``Z_real = logsumexp(l[:, :K])`` and ``Z = logsumexp(l)``,

* p(fake | x) = softmax(l)[:, K] = exp(l_K - Z),
* p(real | x) = 1 - p(fake | x) = exp(Z_real - Z) = sigmoid(Z_real - l_K).

So ``real_logit(l) = Z_real - l_K`` is the log-odds of "real": the (K+1)-class model contains an
ordinary GAN discriminator (Salimans 2016, sec. 5, where l_K is fixed to 0 and D(x) = Z(x) / (Z(x) + 1)).
Every loss here is written with ``logsumexp`` / ``softplus``, so it stays finite for logits of any size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_logits(logits: Tensor, name: str = "logits") -> int:
    """Return K for logits of shape (N, K+1); raise ValueError otherwise."""
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"{name} must have shape (N, K+1) with K >= 1, got {tuple(logits.shape)}")
    return logits.shape[1] - 1


def real_logit(logits: Tensor) -> Tensor:
    """Log-odds that x is real, ``logsumexp(l[:, :K]) - l[:, K]``, shape (N,), from logits (N, K+1).

    ``sigmoid(real_logit(l)) = 1 - softmax(l)[:, K] = p(real | x)``.

    Raises:
        ValueError: if ``logits`` is not (N, K+1) with K >= 1.
    """
    k = _check_logits(logits)
    return torch.logsumexp(logits[:, :k], dim=1) - logits[:, k]


def supervised_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of the labeled images over the K real classes, a scalar.

    ``L_sup = -E log p(y | x, y < K+1) = mean(logsumexp(l[:, :K]) - l[:, y])`` (Salimans et al. 2016,
    sec. 5, L_supervised). Odena (2016) uses the (K+1)-way cross-entropy ``-log softmax(l)[:, y]``
    instead; it equals this term plus ``-log p(real | x)``, which :func:`unsupervised_loss` adds for the
    labeled images (they are real images too).

    Args:
        logits: (N, K+1) discriminator logits; the "fake" column K is ignored.
        labels: int64 (N,) with values in [0, K).

    Raises:
        ValueError: on a shape mismatch. A label outside [0, K) makes ``F.cross_entropy`` raise (checking
            it here would synchronise the GPU at every step).
    """
    k = _check_logits(logits)
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    return F.cross_entropy(logits[:, :k], labels)


def unsupervised_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Real images to "one of the K classes", generated ones to "fake", a scalar (Salimans 2016, sec. 5).

    ``L_unsup = -E_real log(1 - p_fake(x)) - E_gen log p_fake(G(z))``
    ``        = mean(softplus(-real_logit(real))) + mean(softplus(real_logit(fake)))``,
    the standard GAN discriminator loss on the log-odds :func:`real_logit`.

    Args:
        real_logits: (N, K+1) logits of real images (labeled or not).
        fake_logits: (M, K+1) logits of generated images, same K.

    Raises:
        ValueError: if the shapes are not (·, K+1) with the same K.
    """
    if _check_logits(real_logits, "real_logits") != _check_logits(fake_logits, "fake_logits"):
        raise ValueError(f"real and fake logits must have the same number of columns, got "
                         f"{tuple(real_logits.shape)} and {tuple(fake_logits.shape)}")
    return F.softplus(-real_logit(real_logits)).mean() + F.softplus(real_logit(fake_logits)).mean()


def feature_matching_loss(real_features: Tensor, fake_features: Tensor, reduction: str = "sum") -> Tensor:
    """Feature matching ``|| E f(x) - E f(G(z)) ||_2^2`` (Salimans et al. 2016, sec. 3.1), a scalar.

    ``reduction="sum"`` is the paper's squared L2 norm; ``"mean"`` averages the squared differences over the F
    features, as the authors' MNIST code does (``T.mean(T.square(mom_gen - mom_real))``). The two differ by the
    factor F, which matters to Adam only through its epsilon.

    Args:
        real_features: (N, F) features of real images on an intermediate D layer (treated as constants:
            pass them detached, only the generator is trained with this loss).
        fake_features: (M, F) features of generated images.
        reduction: ``"sum"`` or ``"mean"`` over the features.

    Raises:
        ValueError: if the inputs are not 2-D with the same number of features, or for another ``reduction``.
    """
    if real_features.dim() != 2 or fake_features.dim() != 2 or real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"features must be (N, F) and (M, F), got {tuple(real_features.shape)} "
                         f"and {tuple(fake_features.shape)}")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    squared = (real_features.mean(0) - fake_features.mean(0)).pow(2)
    return squared.sum() if reduction == "sum" else squared.mean()
