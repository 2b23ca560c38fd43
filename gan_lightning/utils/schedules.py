"""Learning-rate and momentum schedules of the papers' setups that torch.optim has no class for."""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler


class ExponentialDecayWithMomentum(LRScheduler):
    """pylearn2's ``ExponentialDecay`` and ``MomentumAdjustor`` in one scheduler, stepped once per update (the
    SGD setups of Goodfellow et al. 2014's code, goodfeli/adversarial ``mnist.yaml``, and Mirza & Osindero 2014,
    sec. 4.1):

    * ``lr_t = max(lr_0 / decay_factor ** t, min_lr)`` after t updates;
    * momentum rises linearly from the optimizer's initial momentum at update ``momentum_start_step`` to
      ``final_momentum`` at update ``momentum_saturate_step``, and stays there.

    Args:
        optimizer: an optimizer with ``momentum`` in its param groups (``torch.optim.SGD``).
        decay_factor: > 1 (1.000004 in Goodfellow 2014's code; 1.00004 in Mirza 2014's text).
        min_lr: the floor (1e-6 in both).
        final_momentum: in [0, 1) (0.7 in both).
        momentum_start_step, momentum_saturate_step: updates where the ramp starts and ends (start <= saturate).

    Raises:
        ValueError: ``decay_factor <= 1``, ``min_lr < 0``, ``final_momentum`` outside [0, 1), a ramp that ends
            before it starts, or an optimizer without momentum.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, decay_factor: float, min_lr: float = 0.0,
                 final_momentum: float | None = None, momentum_start_step: int = 0, momentum_saturate_step: int = 0,
                 last_epoch: int = -1) -> None:
        if not decay_factor > 1:
            raise ValueError(f"decay_factor must be > 1, got {decay_factor!r} (e.g. 1.000004)")
        if not min_lr >= 0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr!r}")
        if final_momentum is not None:
            if not 0 <= final_momentum < 1:
                raise ValueError(f"final_momentum must be in [0, 1), got {final_momentum!r}")
            if not 0 <= momentum_start_step <= momentum_saturate_step:
                raise ValueError(f"need 0 <= momentum_start_step <= momentum_saturate_step, got "
                                 f"{momentum_start_step} and {momentum_saturate_step}")
            if any("momentum" not in g for g in optimizer.param_groups):
                raise ValueError(f"{type(optimizer).__name__} has no momentum to schedule; use torch.optim.SGD")
        self.decay_factor, self.min_lr, self.final_momentum = float(decay_factor), float(min_lr), final_momentum
        self.momentum_start_step, self.momentum_saturate_step = int(momentum_start_step), int(momentum_saturate_step)
        self.initial_momenta = [float(g.get("momentum", 0.0)) for g in optimizer.param_groups]
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [max(base / self.decay_factor ** self.last_epoch, self.min_lr) for base in self.base_lrs]

    def momentum_at(self, step: int, initial: float) -> float:
        """The momentum after ``step`` updates, from ``initial``."""
        if self.final_momentum is None:
            return initial
        span = self.momentum_saturate_step - self.momentum_start_step
        progress = 1.0 if span == 0 else (step - self.momentum_start_step) / span
        return initial + (self.final_momentum - initial) * min(max(progress, 0.0), 1.0)

    def step(self, epoch: Any = None) -> None:
        super().step(epoch)
        for group, initial in zip(self.optimizer.param_groups, self.initial_momenta):
            if "momentum" in group:
                group["momentum"] = self.momentum_at(self.last_epoch, initial)


def linear_decay(optimizer: torch.optim.Optimizer, n_epochs: int, n_epochs_decay: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant learning rate for ``n_epochs`` epochs, then linear decay to 0 over ``n_epochs_decay`` epochs
    (Isola 2017, sec. 6.2 and Zhu 2017, sec. 7.1: 100 + 100 epochs at full scale; also the CatGAN experiments').
    Step it once per epoch (``model.scheduler_interval: epoch``).

    Raises:
        ValueError: ``n_epochs < 0`` or ``n_epochs_decay < 1``, naming the ``model.scheduler_g`` key.
    """
    if n_epochs < 0 or n_epochs_decay < 1:
        raise ValueError(f"model.scheduler_g.n_epochs must be >= 0 and n_epochs_decay >= 1, got "
                         f"n_epochs={n_epochs}, n_epochs_decay={n_epochs_decay}.")
    # Epoch e (0-based) trains at factor 1 for e < n_epochs, then 1 - (e - n_epochs + 1) / (n_epochs_decay + 1):
    # the last decay epoch at 1 / (n_epochs_decay + 1), 0 once training is over.
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: max(0.0, 1.0 - max(0, e - n_epochs + 1) / (n_epochs_decay + 1))
    )
