"""Evaluators of classification: a discriminator's test error (SGAN, CatGAN, baselines), its clustering accuracy
(CatGAN) and the class-conditional accuracy of a conditional generator (cGAN)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.metrics.clustering import MAPPINGS, clustering_accuracy
from gan_lightning.metrics.domain import DomainFeatureExtractor, load_domain_classifier
from gan_lightning.metrics.evaluator import ClassifierEvaluator, EvalContext, Evaluator, warn_if_other_dataset


class ClassifierErrorEvaluator(ClassifierEvaluator):
    """``test_error``: the top-1 error (a fraction in [0, 1]) of ``module.classify`` on the datamodule's real test
    split: the semi-supervised score of Odena 2016 (tab. 1), Salimans 2016 (tab. 1) and Springenberg 2016 (tab. 1).
    Mechanics (caching, ``max_samples``): :class:`~gan_lightning.metrics.evaluator.SplitEvaluator`.

    Args:
        batch_size: images per ``classify`` call.
        max_samples: evaluate on this many evenly spaced test images (None: all).
        averaged: score the module's averaged classifier where it keeps one (``classify(x)``); False scores the
            raw D (``classify(x, averaged=False)``).
        name: the value's name (logged as ``metrics/<name>``).
        precise_bn: score with precise BatchNorm statistics of the clean train images (see `ClassifierEvaluator`).

    Raises:
        ValueError: ``batch_size < 1`` or ``max_samples < 1``.
        RuntimeError: at evaluation, if the module has no ``classify`` or the datamodule no ``test_set``.
    """

    config_key = "metrics.evaluators.test_error"

    def __init__(self, batch_size: int = 500, max_samples: int | None = None, averaged: bool = True,
                 name: str = "test_error", precise_bn: bool = False) -> None:
        super().__init__(batch_size=batch_size, max_samples=max_samples, precise_bn=precise_bn)
        self.averaged, self.name = bool(averaged), str(name)

    def classify(self, module: nn.Module, x: Tensor) -> Tensor:
        # averaged=False scores D itself where the module keeps an averaged D (SGAN's d_average_decay)
        return module.classify(x) if self.averaged else module.classify(x, averaged=False)

    def score(self, pred: Tensor, labels: Tensor, num_classes: int) -> dict[str, Any]:
        return {self.name: float((pred != labels).float().mean())}


class ClusteringEvaluator(ClassifierEvaluator):
    """``clustering_accuracy`` and ``clustering_error`` (= 1 - accuracy, both in [0, 1]), the unsupervised score of
    Springenberg 2016 (sec. 5.1, tab. 1).

    The predicted cluster of a test image is ``argmax module.classify(x)``; clusters are mapped to the true labels
    one-to-one by the Hungarian algorithm, or many-to-one by majority for K > classes
    (:func:`gan_lightning.metrics.clustering.clustering_accuracy`).

    Args:
        batch_size: test images per ``classify`` call.
        max_samples: evaluate on this many evenly spaced test images (None: all of them).
        mapping: ``"hungarian"`` or ``"majority"``.
        precise_bn: score with precise BatchNorm statistics of the clean train images (see `ClassifierEvaluator`).

    Raises:
        ValueError: invalid arguments (naming the ``metrics.evaluators.clustering`` key).
        RuntimeError: no datamodule, no ``test_set`` or no ``classify`` when evaluating.
    """

    config_key = "metrics.evaluators.clustering"

    def __init__(self, batch_size: int = 500, max_samples: int | None = None, mapping: str = "hungarian",
                 precise_bn: bool = False) -> None:
        super().__init__(batch_size, max_samples, precise_bn)
        if mapping not in MAPPINGS:
            raise ValueError(
                f"{self.config_key}.mapping must be one of {MAPPINGS}, got {mapping!r}: hungarian (one-to-one) "
                "when K equals the number of classes, majority (many-to-one) for more clusters than classes."
            )
        self.mapping = mapping

    def score(self, pred: Tensor, labels: Tensor, num_classes: int) -> dict[str, Any]:
        accuracy = clustering_accuracy(pred, labels, max(num_classes, int(labels.max()) + 1), self.mapping)
        return {"clustering_accuracy": accuracy, "clustering_error": 1.0 - accuracy}


class ClassAccuracyEvaluator(Evaluator):
    """``class_accuracy`` and ``class_accuracy/<k>``: does a conditional generator draw the class it is asked for?

    For a ``class_conditional`` module and each class k in ``range(module.num_classes)``, ``num_per_class`` images
    are drawn with ``module.generate_from(z, y)`` (the sampling generator, EMA if enabled; (N, C, H, W) in
    [-1, 1]) from z ``module.sample_latent(n, generator)`` with a ``torch.Generator`` seeded by ``seed``, so every
    evaluation sees the same z and the global RNG is never used. The domain classifier
    (:mod:`gan_lightning.metrics.domain`) gets them with its own preprocessing (channel matching and an
    antialiased resize); per-class accuracy is the fraction with ``argmax == k``, the overall one their mean. The
    usual check of a cGAN's conditioning (in the spirit of Mirza & Osindero 2014, fig. 2, one class per row).
    :meth:`compute` returns ``{"class_accuracy", "per_class"}``; both are logged (``metrics/class_accuracy`` and
    ``metrics/class_accuracy/<k>``).

    Args:
        classifier_path: a file written by ``python -m gan_lightning.train_classifier``.
        num_per_class: samples per class (>= 1). batch_size: images per generator / classifier call (>= 1).
        seed: seed of the evaluation latents.

    Raises:
        ValueError: invalid arguments (naming the ``metrics.evaluators.class_accuracy.*`` key); at ``setup``, a
            module that is not ``class_conditional`` (with ``num_classes`` and ``generate_from``), or a classifier
            with fewer classes than the module.
        FileNotFoundError: at ``setup`` (before training) when ``classifier_path`` does not exist.
    """

    config_key = "metrics.evaluators.class_accuracy"

    def __init__(self, classifier_path: str, num_per_class: int = 100, batch_size: int = 250, seed: int = 1234) -> None:
        super().__init__()
        for key, value in (("num_per_class", num_per_class), ("batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{self.config_key}.{key} must be an integer >= 1, got {value!r}.")
        self.classifier_path, self.num_per_class = str(classifier_path), num_per_class
        self.batch_size, self.seed = batch_size, seed
        self._classify: DomainFeatureExtractor | None = None

    def setup(self, module: nn.Module, datamodule: Any, context: EvalContext = EvalContext()) -> None:
        super().setup(module, datamodule, context)
        if self._classify is not None:
            return
        if not getattr(module, "class_conditional", False):
            raise ValueError(f"{type(self).__name__} needs a class-conditional model (class_conditional, "
                             f"`generate_from(z, labels)`); {type(module).__name__}'s generator takes no class "
                             "label: remove metrics.evaluators.class_accuracy.")
        k = module.num_classes
        classifier = load_domain_classifier(self.classifier_path)  # fail before the first step
        if classifier.num_classes < k:
            raise ValueError(f"{self.config_key}.classifier_path={self.classifier_path} has {classifier.num_classes} "
                             f"classes, the model {k}: use the classifier of the training data.")
        warn_if_other_dataset(self.classifier_path, classifier.meta.get("dataset"), datamodule)
        self._classify = DomainFeatureExtractor(classifier, "logits")

    @torch.no_grad()
    def per_class_accuracy(self, module: nn.Module) -> Tensor:
        """Accuracy (num_classes,) in [0, 1] of class-k samples being classified as k, for each k."""
        if self._classify is None:
            raise RuntimeError(f"{type(self).__name__}.compute() called before setup()")
        device, k = module.device, int(module.num_classes)
        classify = self._classify.to(device)
        labels = torch.arange(k, device=device).repeat_interleave(self.num_per_class)
        generator = torch.Generator(device=device).manual_seed(self.seed)
        correct = torch.zeros(k, device=device)
        for y in labels.split(self.batch_size):
            z = module.sample_latent(y.shape[0], generator)
            images = module.generate_from(z, y)
            pred = classify((images.float().clamp(-1, 1) + 1) / 2).argmax(1)  # the extractor takes [0, 1]
            correct.index_add_(0, y, (pred == y).float())
        return correct / self.num_per_class

    def compute(self, module: nn.Module) -> dict[str, Any]:
        per_class = self.per_class_accuracy(module).cpu()
        return {"class_accuracy": float(per_class.mean()), "per_class": [float(a) for a in per_class]}

    def logged(self, values: dict[str, Any]) -> dict[str, float]:
        return {"metrics/class_accuracy": values["class_accuracy"],
                **{f"metrics/class_accuracy/{i}": a for i, a in enumerate(values["per_class"])}}
