"""Supervised baseline of the semi-supervised GANs: the same discriminator trained on the labeled subset only.

Odena (2016) compares SGAN with "a CNN" of the same architecture trained on the labeled examples alone; this is
that comparison, matched: the same net class and config as ``model.discriminator`` of SGAN, the same
datamodule (same ``num_labeled``, ``labeled_seed`` and labeled batches), the unlabeled images ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.losses.semi_supervised import supervised_loss
from gan_lightning.models.base import RunStateModule, check_optimizer
from gan_lightning.models.classifier_state import (
    check_average_decay,
    maybe_data_dependent_init,
    update_average_,
    zero_average,
)


class SupervisedBaseline(RunStateModule):
    """Cross-entropy over the K real classes of a (K+1)-output net, on labeled batches only.

    Takes the dict batches of :class:`gan_lightning.data.semi_supervised.SemiSupervisedDataModule` and uses only
    ``batch["labeled"]``; one optimizer step per batch. ``g_step`` counts those steps, so the generator-step
    cadences of the shared callbacks (checkpoints, test error) and ``max_g_steps`` apply unchanged.

    Logged per step: ``loss/supervised``, ``train/error`` (on the labeled minibatch) and ``trainer/g_step``.

    As in SGAN, a D with ``data_dependent_init`` (the weight-normalized MLP of Salimans et al. 2016) is
    initialized at the start of a fresh run, here on the labeled images only (no unlabeled image reaches the
    baseline), and ``d_average_decay`` keeps an average of the parameters that :meth:`classify` uses.

    Args:
        discriminator: images (N, C, H, W) in [-1, 1] -> logits (N, K+1) with ``num_classes`` = K
            (:class:`gan_lightning.nets.sgan.SGANDiscriminator` or ``SGANMLPDiscriminator``; the "generated"
            output stays unused).
        optimizer: factory called with the parameters, e.g. ``functools.partial(torch.optim.Adam, lr=3e-3)``.
        scheduler: optional factory called with the optimizer, stepped after every optimizer step.
        d_average_decay: decay of the averaged parameters :meth:`classify` uses (None: none).

    Raises:
        ValueError: if the discriminator has no ``num_classes``, ``d_average_decay`` outside [0, 1); in
            ``training_step``, for a batch that is not a semi-supervised dict (data=mnist_semi / fashion_mnist_semi).
    """

    def __init__(self, discriminator: nn.Module, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None, d_average_decay: float | None = None) -> None:
        super().__init__()
        check_average_decay(d_average_decay, "model.d_average_decay")
        if not hasattr(discriminator, "num_classes"):
            raise ValueError(f"{type(discriminator).__name__} has no `num_classes`; use "
                             "gan_lightning.nets.sgan.SGANDiscriminator (model.discriminator._target_).")
        self.discriminator = discriminator
        self.num_classes = int(discriminator.num_classes)
        check_optimizer("model.optimizer", optimizer)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self._train_error = torch.zeros(())  # g_step counts optimizer steps: the axis the shared callbacks read
        self.d_average_decay = d_average_decay
        self.discriminator_average = zero_average(discriminator) if d_average_decay is not None else None

    def classify(self, x: Tensor, averaged: bool = True) -> Tensor:
        """Class logits (N, K) of images (N, C, H, W) in [-1, 1] (current train/eval mode), from the averaged
        parameters when there are any and ``averaged``."""
        net = self.discriminator_average if averaged and self.discriminator_average is not None else self.discriminator
        return net(x)[:, : self.num_classes]

    def on_train_start(self) -> None:
        if self.g_step == 0 and self._pending_rng is None:
            maybe_data_dependent_init(self.discriminator, self.trainer.datamodule.labeled_images.to(self.device))
        super().on_train_start()

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(x)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.discriminator.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer), "interval": "step"}}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        if not (isinstance(batch, dict) and "labeled" in batch):
            raise ValueError(f"Expected a batch {{'labeled': (x, y), 'unlabeled': x}}, got {type(batch).__name__}: "
                             "use data=mnist_semi or data=fashion_mnist_semi.")
        x, y = batch["labeled"]
        logits = self.discriminator(x)
        loss = supervised_loss(logits, y)
        self.last_losses = {"loss/supervised": loss.detach()}
        self._train_error = (logits.detach()[:, : self.num_classes].argmax(1) != y).float().mean()
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        if self.discriminator_average is not None:
            update_average_(self.discriminator_average, self.discriminator, self.d_average_decay)
        # Counted here, before the callbacks' on_train_batch_end reads it, as the GANs count in training_step.
        self.g_step += 1

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        trainer = self.trainer
        if trainer.fast_dev_run or self.g_step % max(trainer.log_every_n_steps, 1) == 0:
            logs = {**self.last_losses, "train/error": self._train_error, "trainer/g_step": float(self.g_step)}
            self.log_dict(logs, on_step=True, on_epoch=False, batch_size=1)
