"""Unsupervised clustering accuracy of a categorical discriminator on the real test split (CatGAN)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from gan_lightning.callbacks.evaluation import TestSplitClassification
from gan_lightning.metrics.clustering import clustering_accuracy


class ClusteringAccuracyCallback(TestSplitClassification):
    """Log ``metrics/clustering_accuracy`` and ``metrics/clustering_error`` (= 1 - accuracy, both in [0, 1]), the
    unsupervised score of Springenberg 2016 (sec. 5.1, tab. 1).

    The predicted cluster of a test image is ``argmax pl_module.classify(x)``; clusters are matched to the true
    labels by the Hungarian algorithm (:func:`gan_lightning.metrics.clustering.clustering_accuracy`). Evaluated
    at the end of every ``every_n_epochs``-th training epoch, every ``every_n_g_steps`` generator steps (if set)
    and at train end; :attr:`history` holds ``{"g_step", "clustering_accuracy", "clustering_error"}``.
    Mechanics: :class:`~gan_lightning.callbacks.evaluation.TestSplitClassification`.

    Args:
        every_n_epochs: epoch cadence (0 disables the epoch-end evaluation).
        batch_size: test images per ``classify`` call.
        every_n_g_steps: generator-step cadence (None or 0 disables it).
        max_samples: evaluate on this many evenly spaced test images (None: all of them).

    Raises:
        ValueError: invalid arguments (naming the ``metrics.evaluators.clustering`` key).
        RuntimeError: no ``trainer.datamodule`` or no ``test_set`` when evaluating.
    """

    config_key = "metrics.evaluators.clustering"

    def __init__(self, every_n_epochs: int = 1, batch_size: int = 500, every_n_g_steps: int | None = None,
                 max_samples: int | None = None) -> None:
        super().__init__(every_n_epochs=every_n_epochs, batch_size=batch_size, max_samples=max_samples,
                         every_n_g_steps=every_n_g_steps)

    def score(self, pred: Tensor, labels: Tensor, num_classes: int) -> dict[str, Any]:
        accuracy = clustering_accuracy(pred, labels, max(num_classes, int(labels.max()) + 1))
        return {"clustering_accuracy": accuracy, "clustering_error": 1.0 - accuracy}
