"""Translation success: the share of translated test images G(x) that the domain classifier assigns to the target
class (e.g. sneaker -> ankle boot), the classifier-based score of unpaired translation (cf. Zhu 2017, sec. 5.1.1's
FCN-based scores)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from gan_lightning.callbacks.evaluation import TestSplitEvaluation
from gan_lightning.metrics.domain import DomainFeatureExtractor, load_domain_classifier


class TranslationSuccessCallback(TestSplitEvaluation):
    """Log ``metrics/translation_success``: the fraction in [0, 1] of ``pl_module.translate(x)`` over the test
    split's inputs x (``test_set`` items ``{"A": x, ...}``) that the domain classifier predicts as
    ``target_class``. The domain classifier gets images in [0, 1] with its own preprocessing (channel matching,
    antialiased resize). Cadence and mechanics: :class:`~gan_lightning.callbacks.evaluation.PeriodicEvaluation`;
    evaluated before the first step too, so the untrained generator's value is the reference.

    Args:
        classifier_path: a file written by ``python -m gan_lightning.train_classifier`` on the data the target
            domain comes from (Fashion-MNIST for sneaker2boot).
        target_class: the class index of the target domain (9, ankle boot, for sneaker2boot AtoB).
        every_n_g_steps, every_n_epochs, batch_size, max_samples: see
            :class:`~gan_lightning.callbacks.evaluation.TestSplitEvaluation`.

    Raises:
        ValueError: a negative ``target_class`` or one the classifier does not have (at ``setup``).
        FileNotFoundError: at ``setup`` (before training) when ``classifier_path`` does not exist.
    """

    config_key = "metrics.evaluators.translation_success"

    def __init__(self, classifier_path: str, target_class: int, every_n_g_steps: int | None = 1000,
                 every_n_epochs: int = 0, batch_size: int = 250, max_samples: int | None = None) -> None:
        super().__init__(every_n_g_steps=every_n_g_steps, every_n_epochs=every_n_epochs, at_train_start=True,
                         batch_size=batch_size, max_samples=max_samples)
        if not isinstance(target_class, int) or target_class < 0:
            raise ValueError(f"metrics.evaluators.translation_success.target_class must be a class index >= 0, got {target_class!r}.")
        self.classifier_path, self.target_class = str(classifier_path), target_class
        self._classify: DomainFeatureExtractor | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self._classify is not None:
            return
        classifier = load_domain_classifier(self.classifier_path)  # fail before the first step
        if self.target_class >= classifier.num_classes:
            raise ValueError(f"metrics.evaluators.translation_success.target_class={self.target_class} but "
                             f"{self.classifier_path} has {classifier.num_classes} classes.")
        self._classify = DomainFeatureExtractor(classifier, "logits")

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        if self._classify is None:
            raise RuntimeError("TranslationSuccessCallback.evaluate() called before setup(stage='fit')")
        classify = self._classify.to(pl_module.device)
        inputs = self.test_data(trainer.datamodule, self.fast_dev_limit(trainer))["A"]
        hits = 0
        for x in inputs.split(self.batch_size):
            fake = pl_module.translate(x.to(pl_module.device)).float().clamp(-1, 1)
            hits += int((classify((fake + 1) / 2).argmax(1) == self.target_class).sum())
        return {"translation_success": hits / len(inputs)}
