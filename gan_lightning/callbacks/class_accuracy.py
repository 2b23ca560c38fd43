"""Class-conditional accuracy: does a conditional generator draw the class it is asked for?

The samples G(z, y=k) are classified by the domain classifier (:mod:`gan_lightning.metrics.domain`); the
accuracy is the fraction classified as k. It is the usual check of a cGAN's conditioning (a
classifier-based score in the spirit of Mirza & Osindero 2014, fig. 2, where each row is one class).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from gan_lightning.callbacks.evaluation import PeriodicEvaluation, warn_if_other_dataset
from gan_lightning.metrics.domain import DomainFeatureExtractor, load_domain_classifier


class ClassConditionalAccuracy(PeriodicEvaluation):
    """Log ``metrics/class_accuracy`` and ``metrics/class_accuracy/<k>`` at fit start, every ``every_n_g_steps``
    generator steps and at train end.

    For a ``class_conditional`` module and each class k in ``range(pl_module.num_classes)``, ``num_per_class``
    images are drawn with ``pl_module.generate_from(z, y)`` (the sampling generator, EMA if enabled, in eval
    mode; (N, C, H, W) in [-1, 1]) from z ``pl_module.sample_latent(n, generator)`` with a ``torch.Generator``
    seeded by ``seed``, so every evaluation sees the same z and the global RNG is never used. The domain classifier
    gets them with its own preprocessing (channel matching and an antialiased resize to its ``image_size``,
    as for the domain FID). Per-class accuracy is the fraction with ``argmax == k``; the overall one their
    mean. Module train/eval flags and the global RNG are restored, so training is bit-identical with or
    without this callback.

    Values go to every ``trainer.loggers`` entry at ``step=trainer.global_step`` with ``trainer/g_step``, into
    ``trainer.callback_metrics``, and into :attr:`history` as ``{"g_step", "class_accuracy", "per_class"}``
    (saved in checkpoints: a resumed run does not re-evaluate the same step).

    Args:
        classifier_path: a file written by ``python -m gan_lightning.train_classifier``.
        num_per_class: samples per class (>= 1). every_n_g_steps: cadence (>= 1; None: start and end only).
        batch_size: images per generator / classifier call (>= 1). seed: seed of the evaluation latents.

    Raises:
        ValueError: invalid arguments (naming the ``metrics.evaluators.class_accuracy.*`` key); at ``setup``, a module
            that is not ``class_conditional`` (with ``num_classes`` and ``generate_from``), or a classifier with
            fewer classes than the module.
        FileNotFoundError: at ``setup`` (before training) when ``classifier_path`` does not exist.
    """

    config_key = "metrics.evaluators.class_accuracy"

    def __init__(self, classifier_path: str, num_per_class: int = 100, every_n_g_steps: int | None = 1000,
                 batch_size: int = 250, seed: int = 1234) -> None:
        super().__init__(every_n_g_steps=every_n_g_steps, at_train_start=True)
        for key, value in (("num_per_class", num_per_class), ("batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"metrics.evaluators.class_accuracy.{key} must be an integer >= 1, got {value!r}.")
        self.classifier_path, self.num_per_class = str(classifier_path), num_per_class
        self.batch_size, self.seed = batch_size, seed
        self._classify: DomainFeatureExtractor | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self._classify is not None:
            return
        if not getattr(pl_module, "class_conditional", False):
            raise ValueError(f"ClassConditionalAccuracy needs a class-conditional model (class_conditional, "
                             f"`generate_from(z, labels)`); {type(pl_module).__name__}'s generator takes no class "
                             "label: remove metrics.evaluators.class_accuracy.")
        k = pl_module.num_classes
        classifier = load_domain_classifier(self.classifier_path)  # fail before the first step
        if classifier.num_classes < k:
            raise ValueError(f"metrics.evaluators.class_accuracy.classifier_path={self.classifier_path} has {classifier.num_classes} "
                             f"classes, the model {k}: use the classifier of the training data.")
        warn_if_other_dataset(self.classifier_path, classifier.meta.get("dataset"), trainer.datamodule)
        self._classify = DomainFeatureExtractor(classifier, "logits")

    # ---- evaluation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def per_class_accuracy(self, pl_module: pl.LightningModule) -> Tensor:
        """Accuracy (num_classes,) in [0, 1] of class-k samples being classified as k, for each k."""
        if self._classify is None:
            raise RuntimeError("ClassConditionalAccuracy.evaluate() called before setup(stage='fit')")
        device, k = pl_module.device, int(pl_module.num_classes)
        classify = self._classify.to(device)
        labels = torch.arange(k, device=device).repeat_interleave(self.num_per_class)
        generator = torch.Generator(device=device).manual_seed(self.seed)
        correct = torch.zeros(k, device=device)
        for y in labels.split(self.batch_size):
            z = pl_module.sample_latent(y.shape[0], generator)
            images = pl_module.generate_from(z, y)
            pred = classify((images.float().clamp(-1, 1) + 1) / 2).argmax(1)  # the extractor takes [0, 1]
            correct.index_add_(0, y, (pred == y).float())
        return correct / self.num_per_class

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        per_class = self.per_class_accuracy(pl_module).cpu()
        return {"class_accuracy": float(per_class.mean()), "per_class": [float(a) for a in per_class]}

    def metrics(self, record: dict[str, Any]) -> dict[str, float]:
        return {"metrics/class_accuracy": record["class_accuracy"],
                **{f"metrics/class_accuracy/{i}": a for i, a in enumerate(record["per_class"])}}
