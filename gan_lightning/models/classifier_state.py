"""Network state the models set up around training: the data-dependent initialization of nets that define
``data_dependent_init`` (Salimans & Kingma 2016's weight-norm init; Goodfellow 2014's output bias), and the running
average of D's parameters that SGAN and its supervised baseline classify with, as the authors of Salimans et al.
2016 evaluate (openai/improved-gan, ``train_mnist_feature_matching.py``)."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


def check_average_decay(decay: float | None, key: str) -> None:
    """Raise ValueError naming ``key`` unless ``decay`` is None or in [0, 1)."""
    if decay is not None and not 0.0 <= decay < 1.0:
        raise ValueError(f"{key} must be in [0, 1) or null, got {decay!r}; the authors of Salimans et al. 2016 "
                         "use 0.9999.")


def zero_average(net: nn.Module) -> nn.Module:
    """A frozen copy of ``net`` whose parameters start at zero, as the authors' averaged D does (their average
    ``a`` starts at 0 and follows ``a <- a + (1 - decay) (p - a)``); buffers follow ``net``."""
    average = copy.deepcopy(net).requires_grad_(False)
    with torch.no_grad():
        for p in average.parameters():
            p.zero_()
    return average


@torch.no_grad()
def update_average_(average: nn.Module, net: nn.Module, decay: float) -> None:
    """``a <- a + (1 - decay) (p - a)`` for every parameter of ``net``; buffers copied."""
    torch._foreach_lerp_(list(average.parameters()), list(net.parameters()), 1.0 - decay)
    for a, b in zip(average.buffers(), net.buffers()):
        a.copy_(b)


def init_images(dataset: torch.utils.data.Dataset, n: int, seed: int) -> Tensor:
    """``n`` images (n, C, H, W) drawn without replacement from ``dataset`` (items are images or
    ``(image, label)``) with ``torch.Generator().manual_seed(seed)``: the batch of a data-dependent init."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(int(seed)))[: int(n)]
    items = [dataset[i] for i in order.tolist()]
    return torch.stack([item[0] if isinstance(item, (tuple, list)) else item for item in items])


def maybe_data_dependent_init(discriminator: nn.Module, images: Tensor) -> bool:
    """Run ``discriminator.data_dependent_init(images)`` in train mode (the authors' code keeps the noise on)
    when D has one; returns whether it did."""
    init = getattr(discriminator, "data_dependent_init", None)
    if init is None:
        return False
    was_training = discriminator.training
    discriminator.train()
    try:
        init(images)
    finally:
        discriminator.train(was_training)
    return True
