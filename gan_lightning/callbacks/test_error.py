"""Test-set classification error of models that expose ``classify(x) -> logits`` (SGAN, CatGAN, baselines)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from gan_lightning.callbacks.evaluation import TestSplitClassification


class TestErrorCallback(TestSplitClassification):
    """Log ``metrics/test_error``, the top-1 error (a fraction in [0, 1]) of ``pl_module.classify`` on the
    datamodule's real test split: the semi-supervised score of Odena 2016 (tab. 1), Salimans 2016 (tab. 1) and
    Springenberg 2016 (tab. 1).

    Evaluated at the end of every ``every_n_epochs``-th training epoch, every ``every_n_g_steps`` generator steps
    (optional) and at train end; :attr:`history` holds ``{"g_step", "test_error", "epoch"}`` (``epoch`` is
    ``trainer.current_epoch``). Mechanics (inference mode, caching, logging, checkpointed history):
    :class:`~gan_lightning.callbacks.evaluation.TestSplitClassification`.

    Args:
        every_n_epochs: epoch cadence (0 disables the per-epoch evaluation).
        batch_size: images per ``classify`` call.
        max_samples: evaluate on this many evenly spaced test images (None: all).
        every_n_g_steps: optional generator-step cadence (None or 0: off).
        averaged: score the module's averaged classifier where it keeps one (``classify(x)``); False scores the
            raw D (``classify(x, averaged=False)``).
        name: the logged name, ``metrics/<name>``.

    Raises:
        ValueError: for a negative cadence, ``batch_size < 1`` or ``max_samples < 1``.
        RuntimeError: at evaluation, if the module has no ``classify`` or the datamodule no ``test_set``.
    """

    config_key = "metrics.evaluators.test_error"

    def __init__(self, *args: Any, averaged: bool = True, name: str = "test_error", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.averaged, self.name = bool(averaged), str(name)

    def classify(self, pl_module: Any, x: Tensor) -> Tensor:
        # averaged=False scores D itself where the module keeps an averaged D (SGAN's d_average_decay)
        return pl_module.classify(x) if self.averaged else pl_module.classify(x, averaged=False)

    def score(self, pred: Tensor, labels: Tensor, num_classes: int) -> dict[str, Any]:
        return {self.name: float((pred != labels).float().mean())}

    def compute(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        return {**super().compute(trainer, pl_module), "epoch": int(trainer.current_epoch)}
