"""What every evaluator shares: the :class:`Evaluator` interface (``setup`` then ``compute``), reading the real
test split, the inference mode that leaves training untouched, and :func:`compute_all`.

Evaluators are plain objects. :class:`gan_lightning.callbacks.EvaluationCallback` decides when they run during
training (and logs, records and checkpoints what they return); ``python -m gan_lightning.eval`` calls them once on
a checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor, nn

from gan_lightning.data.on_device import from_uint8
from gan_lightning.metrics.domain import preserve_global_rng
from gan_lightning.nets.layers import precise_batchnorm_stats


@dataclass(frozen=True)
class EvalContext:
    """Where an evaluation runs: this process's ``rank`` among ``world_size`` (an evaluator that splits work, such
    as the generative metrics, takes this rank's share; torchmetrics gathers the rest), and ``quick``: a mechanics
    check (``trainer.fast_dev_run``) that cuts the test split to one batch."""

    rank: int = 0
    world_size: int = 1
    quick: bool = False


@contextmanager
def inference_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode (BatchNorm on running statistics, which stay untouched; no Dropout), ``torch.no_grad()`` and a
    preserved global RNG; each submodule's train/eval flag is restored exactly afterwards (frozen submodules stay
    in eval), so training is bit-identical with or without an evaluation."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with torch.no_grad(), preserve_global_rng(getattr(module, "device", None)):
            yield
    finally:
        for m, mode in modes.items():
            m.training = mode


def warn_if_other_dataset(classifier_path: str, trained_on: Any, datamodule: Any) -> None:
    """Warn when a domain classifier was trained on another dataset than the run's ("fashion_mnist_semi" and
    "FashionMNIST" count as the same)."""
    data_name = getattr(datamodule, "name", None)
    norm = lambda s: re.sub(r"[^a-z0-9]", "", str(s).lower()).removesuffix("semi")  # noqa: E731
    if trained_on and data_name and norm(trained_on) != norm(data_name):
        rank_zero_warn(f"Classifier {classifier_path} was trained on {trained_on!r}, the data is {data_name!r}.")


class Evaluator:
    """One metric (or a family of them) of a model: :meth:`setup` once, then :meth:`compute` any number of times.

    :meth:`setup` loads what the evaluator reads (networks, files) so a missing file fails before training;
    :meth:`compute` returns ``{name: value}``, where float values are the logged metrics ``metrics/<name>``
    (:meth:`logged`) and other values (lists, ints) are kept in the evaluation history only. State that must
    survive a resume (values computed once) goes through :meth:`state_dict` / :meth:`load_state_dict`.
    """

    config_key = "metrics.evaluators.<name>"  # the config path named in error messages

    def __init__(self) -> None:
        self.datamodule: Any = None
        self.context = EvalContext()

    def setup(self, module: nn.Module, datamodule: Any, context: EvalContext = EvalContext()) -> None:
        """Keep the datamodule and context; subclasses load their networks here (and check ``module``)."""
        self.datamodule, self.context = datamodule, context

    def compute(self, module: nn.Module) -> dict[str, Any]:
        """The values of one evaluation of ``module`` (callers run it under :func:`inference_mode`)."""
        raise NotImplementedError

    def logged(self, values: Mapping[str, Any]) -> dict[str, float]:
        """What to log of :meth:`compute`'s values: the float ones as ``metrics/<name>``."""
        return {f"metrics/{k}": v for k, v in values.items() if isinstance(v, float)}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        pass


def compute_all(evaluators: Mapping[str, Evaluator], module: nn.Module) -> tuple[dict[str, Any], dict[str, float]]:
    """Run every evaluator once, in order, under :func:`inference_mode`; returns the merged values and what to
    log of them (``metrics/<name>``)."""
    values: dict[str, Any] = {}
    logged: dict[str, float] = {}
    with inference_mode(module):
        for evaluator in evaluators.values():
            own = evaluator.compute(module)
            values.update(own)
            logged.update(evaluator.logged(own))
    return values, logged


class SplitEvaluator(Evaluator):
    """Base of the evaluators that read ``datamodule.test_set``.

    The test items are read by index, without a DataLoader (creating its iterator draws from the global RNG),
    stacked and cached on the CPU. ``max_samples`` evenly spaced items are used (balanced even if the set is
    sorted by class); under a quick context (``trainer.fast_dev_run``) only ``batch_size`` of them (a mechanics
    check, not a measurement).

    Raises:
        ValueError: ``batch_size < 1`` or ``max_samples < 1``, naming the ``<config_key>.*`` key.
        RuntimeError: at evaluation, no datamodule or one without ``test_set``.
    """

    def __init__(self, batch_size: int = 500, max_samples: int | None = None) -> None:
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{self.config_key}.batch_size must be an integer >= 1, got {batch_size!r}.")
        if max_samples is not None and max_samples < 1:
            raise ValueError(f"{self.config_key}.max_samples must be >= 1 or null (all), got {max_samples}.")
        self.batch_size, self.max_samples = batch_size, max_samples
        self._cache: tuple[tuple[int, int], Any] | None = None  # ((id(test_set), M), stacked items)

    def test_data(self) -> Any:
        """M = min(max_samples, len(test_set)) test items (at most ``batch_size`` in a quick context), stacked field
        by field: a tuple of tensors for ``(image, label)`` items (labels int64), a dict of tensors for dict
        items."""
        name, datamodule = type(self).__name__, self.datamodule
        if datamodule is None:
            raise RuntimeError(f"{name} needs a datamodule (setup(module, datamodule) first)")
        if getattr(datamodule, "test_set", None) is None:
            datamodule.setup("test")
        dataset = getattr(datamodule, "test_set", None)
        if dataset is None:
            raise RuntimeError(f"{type(datamodule).__name__} has no test_set for {name}")
        total = len(dataset)
        limit = self.batch_size if self.context.quick else None
        m = min(n for n in (self.max_samples, limit, total) if n is not None)
        if self._cache is None or self._cache[0] != (id(dataset), m):
            with preserve_global_rng():  # transforms may draw
                items = [dataset[i * total // m] for i in range(m)]
            if isinstance(items[0], dict):
                stacked: Any = {k: torch.stack([it[k] for it in items]) for k in items[0]}
            else:
                stacked = tuple(torch.stack([torch.as_tensor(it[j]) for it in items]) for j in range(len(items[0])))
            self._cache = ((id(dataset), m), stacked)
        return self._cache[1]


class ClassifierEvaluator(SplitEvaluator):
    """Base of the evaluators that score ``module.classify`` (images (N, C, H, W) in [-1, 1] -> logits (N, K)) on
    the test split, whose items are ``(image, label)``; subclasses define :meth:`score`.

    With ``precise_bn`` the classifier's BatchNorm layers are scored with precise statistics of the clean train
    images (every image of ``datamodule.train_tensors()``, noise and dropout off;
    :func:`gan_lightning.nets.layers.precise_batchnorm_stats`) instead of training's running averages, which a
    discriminator with noise before its BatchNorm (CatGAN's MLP) takes on noisy activations. The module is left
    bit-identical: its statistics are restored after scoring.

    Raises:
        ValueError: ``batch_size < 1`` or ``max_samples < 1``.
        RuntimeError: at evaluation, a module without ``classify`` or a datamodule without ``test_set`` (or, with
            ``precise_bn``, without ``train_tensors``).
    """

    def __init__(self, batch_size: int = 500, max_samples: int | None = None, precise_bn: bool = False) -> None:
        super().__init__(batch_size=batch_size, max_samples=max_samples)
        self.precise_bn = bool(precise_bn)
        self._train_cache: tuple[int, Tensor] | None = None  # (id(train_set), uint8 images)

    def train_images(self) -> Tensor:
        """The train split's images as uint8 (N, C, H, W), cached (only ``batch_size`` evenly spaced ones in a quick
        context)."""
        datamodule = self.datamodule
        if not callable(getattr(datamodule, "train_tensors", None)):
            raise RuntimeError(f"{type(self).__name__}(precise_bn=True) needs a datamodule with train_tensors(), got "
                               f"{type(datamodule).__name__}; set {self.config_key}.precise_bn=false.")
        datamodule.setup("fit")
        key = id(datamodule.train_set)
        if self._train_cache is None or self._train_cache[0] != key:
            with preserve_global_rng():  # transforms may draw
                images = datamodule.train_tensors()[0]
            if self.context.quick:
                images = images[torch.arange(self.batch_size) * len(images) // self.batch_size]
            self._train_cache = (key, images)
        return self._train_cache[1]

    def score(self, pred: Tensor, labels: Tensor, num_classes: int) -> dict[str, Any]:
        """Values from predicted classes (M,) and true labels (M,), both int64."""
        raise NotImplementedError

    def classify(self, module: nn.Module, x: Tensor) -> Tensor:
        """Logits (N, K) of a batch of test images; ``module.classify`` here."""
        return module.classify(x)

    def compute(self, module: nn.Module) -> dict[str, Any]:
        if not callable(getattr(module, "classify", None)):
            raise RuntimeError(f"{type(module).__name__} has no classify(x) -> logits (N, K) for {type(self).__name__}")
        images, labels = self.test_data()[:2]
        device = module.device
        with ExitStack() as stack:
            if self.precise_bn:
                train = (from_uint8(x.to(device)) for x in self.train_images().split(self.batch_size)
                         if len(x) > 1)  # a batch of one has no batch statistics
                stack.enter_context(precise_batchnorm_stats(module, lambda x: self.classify(module, x), train))
            logits = torch.cat([self.classify(module, x.to(device)).cpu() for x in images.split(self.batch_size)])
        return self.score(logits.argmax(1), labels.long(), logits.shape[1])
