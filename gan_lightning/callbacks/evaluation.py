"""The mechanics every metric callback shares: cadence in generator steps, inference mode that leaves training
untouched, logging against ``trainer/g_step``, and a history saved in checkpoints."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor

from gan_lightning.metrics.domain import preserve_global_rng


@contextmanager
def inference_mode(pl_module: pl.LightningModule) -> Iterator[None]:
    """Eval mode (BatchNorm on running statistics, which stay untouched; no Dropout), ``torch.no_grad()`` and a
    preserved global RNG; each submodule's train/eval flag is restored exactly afterwards (frozen submodules stay
    in eval), so training is bit-identical with or without an evaluation."""
    modes = {m: m.training for m in pl_module.modules()}
    pl_module.eval()
    try:
        with torch.no_grad(), preserve_global_rng(pl_module.device):
            yield
    finally:
        for m, mode in modes.items():
            m.training = mode


def log_metrics(trainer: pl.Trainer, pl_module: pl.LightningModule, metrics: dict[str, float]) -> None:
    """Send ``metrics`` to every logger at ``step=trainer.global_step`` with ``trainer/g_step``, and copy them into
    ``trainer.callback_metrics`` (``pl_module.log`` is not allowed in on_train_start / on_train_end)."""
    for logger in trainer.loggers:  # Lightning loggers are rank-zero-only themselves
        logger.log_metrics({**metrics, "trainer/g_step": int(pl_module.g_step)}, step=trainer.global_step)
    trainer.callback_metrics.update({k: torch.tensor(float(v)) for k, v in metrics.items()})


def warn_if_other_dataset(classifier_path: str, trained_on: Any, datamodule: Any) -> None:
    """Warn when a domain classifier was trained on another dataset than the run's ("fashion_mnist_semi" and
    "FashionMNIST" count as the same)."""
    data_name = getattr(datamodule, "name", None)
    norm = lambda s: re.sub(r"[^a-z0-9]", "", str(s).lower()).removesuffix("semi")  # noqa: E731
    if trained_on and data_name and norm(trained_on) != norm(data_name):
        rank_zero_warn(f"Classifier {classifier_path} was trained on {trained_on!r}, the data is {data_name!r}.")


class PeriodicEvaluation(pl.Callback):
    """Base of the metric callbacks: subclasses define :meth:`compute`; this class decides when it runs.

    Evaluates at fit start (if ``at_train_start``), whenever the generator step crosses a multiple of
    ``every_n_g_steps``, at the end of every ``every_n_epochs``-th epoch and at train end, at most once per
    generator step (an epoch end or train end often falls on an evaluated step). :meth:`compute` runs under
    :func:`inference_mode`. Each record ``{"g_step", **values}`` goes to :attr:`history`, which is saved in
    checkpoints so a resumed run does not re-evaluate the same step; its float values are logged as
    ``metrics/<name>`` (see :meth:`metrics`).

    Raises:
        ValueError: a cadence that is not a non-negative integer or null, naming the ``<config_key>.*`` config key.
    """

    config_key = "metrics.evaluators.<name>"  # the config path named in error messages

    def __init__(self, every_n_g_steps: int | None = None, every_n_epochs: int = 0,
                 at_train_start: bool = False) -> None:
        for key, value in (("every_n_g_steps", every_n_g_steps), ("every_n_epochs", every_n_epochs)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{self.config_key}.{key} must be an integer >= 0 (0 or null: off), "
                                 f"got {value!r}.")
        self.every_n_g_steps, self.every_n_epochs = every_n_g_steps or 0, every_n_epochs or 0
        self.at_train_start = at_train_start
        self.history: list[dict[str, Any]] = []
        self._last_g_step: int | None = None

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """The values of one evaluation (called in :func:`inference_mode`)."""
        raise NotImplementedError

    def metrics(self, record: dict[str, Any]) -> dict[str, float]:
        """What to log of a record: its float values as ``metrics/<name>``."""
        return {f"metrics/{k}": v for k, v in record.items() if isinstance(v, float)}

    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """Evaluate now; log, record and return ``{"g_step", **values}``."""
        with inference_mode(pl_module):
            values = self.compute(trainer, pl_module)
        record = {"g_step": int(pl_module.g_step), **values}
        self.history.append(record)
        self._last_g_step = record["g_step"]
        log_metrics(trainer, pl_module, self.metrics(record))
        return record

    def _evaluate_once(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._last_g_step != int(pl_module.g_step):
            self.evaluate(trainer, pl_module)

    # ---- Lightning hooks -------------------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.at_train_start:
            self._evaluate_once(trainer, pl_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.every_n_g_steps and pl_module.g_step % self.every_n_g_steps == 0:
            self._evaluate_once(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._evaluate_once(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._evaluate_once(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "last_g_step": self._last_g_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
        self._last_g_step = state_dict.get("last_g_step")


class TestSplitEvaluation(PeriodicEvaluation):
    """Base of the callbacks that evaluate on ``trainer.datamodule.test_set``.

    The test items are read by index, without a DataLoader (creating its iterator draws from the global RNG),
    stacked and cached on the CPU. ``max_samples`` evenly spaced items are used (balanced even if the set is
    sorted by class); under ``trainer.fast_dev_run`` only ``batch_size`` of them (a mechanics check, not a
    measurement).

    Raises:
        ValueError: ``batch_size < 1``, ``max_samples < 1`` or a bad cadence.
        RuntimeError: at evaluation, a datamodule without ``test_set``.
    """

    def __init__(self, every_n_g_steps: int | None = None, every_n_epochs: int = 0, at_train_start: bool = False,
                 batch_size: int = 500, max_samples: int | None = None) -> None:
        super().__init__(every_n_g_steps=every_n_g_steps, every_n_epochs=every_n_epochs, at_train_start=at_train_start)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{self.config_key}.batch_size must be an integer >= 1, got {batch_size!r}.")
        if max_samples is not None and max_samples < 1:
            raise ValueError(f"{self.config_key}.max_samples must be >= 1 or null (all), got {max_samples}.")
        self.batch_size, self.max_samples = batch_size, max_samples
        self._cache: tuple[tuple[int, int], Any] | None = None  # ((id(test_set), M), stacked items)

    def test_data(self, datamodule: Any, limit: int | None = None) -> Any:
        """M = min(max_samples, limit, len(test_set)) test items, stacked field by field: a tuple of tensors for
        ``(image, label)`` items (labels int64), a dict of tensors for dict items."""
        name = type(self).__name__
        if datamodule is None:
            raise RuntimeError(f"{name} needs trainer.datamodule (fit with datamodule=...)")
        if getattr(datamodule, "test_set", None) is None:
            datamodule.setup("test")
        dataset = getattr(datamodule, "test_set", None)
        if dataset is None:
            raise RuntimeError(f"{type(datamodule).__name__} has no test_set for {name}")
        total = len(dataset)
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

    def fast_dev_limit(self, trainer: pl.Trainer) -> int | None:
        return self.batch_size if trainer.fast_dev_run else None


class TestSplitClassification(TestSplitEvaluation):
    """Base of the callbacks that score ``pl_module.classify`` (images (N, C, H, W) in [-1, 1] -> logits (N, K))
    on the test split, whose items are ``(image, label)``; subclasses define :meth:`score`.

    Raises:
        ValueError: ``batch_size < 1``, ``max_samples < 1`` or a bad cadence.
        RuntimeError: at evaluation, a module without ``classify`` or a datamodule without ``test_set``.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, every_n_epochs: int = 1, batch_size: int = 500, max_samples: int | None = None,
                 every_n_g_steps: int | None = None) -> None:
        super().__init__(every_n_g_steps=every_n_g_steps, every_n_epochs=every_n_epochs, batch_size=batch_size,
                         max_samples=max_samples)

    def score(self, pred: Tensor, labels: Tensor, num_classes: int) -> dict[str, Any]:
        """Values from predicted classes (M,) and true labels (M,), both int64."""
        raise NotImplementedError

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        if not callable(getattr(pl_module, "classify", None)):
            raise RuntimeError(f"{type(pl_module).__name__} has no classify(x) -> logits (N, K) for {type(self).__name__}")
        images, labels = self.test_data(trainer.datamodule, self.fast_dev_limit(trainer))[:2]
        logits = torch.cat([self.classify(pl_module, x.to(pl_module.device)).cpu() for x in images.split(self.batch_size)])
        return self.score(logits.argmax(1), labels.long(), logits.shape[1])

    def classify(self, pl_module: pl.LightningModule, x: Tensor) -> Tensor:
        """Logits (N, K) of a batch of test images; ``pl_module.classify`` here."""
        return pl_module.classify(x)


class EvaluationCallback(PeriodicEvaluation):
    """The one evaluation callback of every model (the ``metrics`` config group): one cadence, every
    ``every_n_g_steps`` generator steps (and ``every_n_epochs`` epochs), before the first step and at the end of
    training, for all metrics at once:

    * the generative metrics FID / IS / KID of samples (``generative``; None for models that do not sample from
      z), with ``feature_extractor`` ``inception`` or ``domain``
      (:class:`~gan_lightning.callbacks.generative_metrics.GenerativeMetricsCallback`);
    * the task metrics, ``evaluators`` by name: semi-supervised test error, clustering accuracy, class-conditional
      accuracy, paired L1 / PSNR / SSIM, translation success, FCN-score (any :class:`PeriodicEvaluation`; their
      own cadence arguments are not used here).

    Values are logged as ``metrics/<name>``; :attr:`history` (in checkpoints, with each evaluator's state) holds
    one record per evaluation.

    Args:
        evaluators: task evaluators by name (may be empty).
        generative: keyword arguments of the generative metrics (``names``, ``num_fake``, ``num_real``,
            ``real_split``, ``batch_size``, ``seed``, ...), or None.
        feature_extractor, inception_weights, inception_weights_url, classifier_path, cache_dir: the extractor
            choice, its files (and where missing Inception weights are downloaded from) and the real-statistics
            cache, shared by the generative metrics.
        every_n_g_steps, every_n_epochs: the cadence (0 or None: off; the start and end always run).

    Raises:
        ValueError: bad cadence or generative arguments (naming the ``metrics.*`` key).
    """

    config_key = "metrics"

    def __init__(self, evaluators: dict[str, PeriodicEvaluation] | None = None, generative: dict[str, Any] | None = None,
                 feature_extractor: str = "domain", inception_weights: str | None = None,
                 inception_weights_url: str | None = None, classifier_path: str | None = None,
                 cache_dir: str | None = None,
                 every_n_g_steps: int | None = 1000, every_n_epochs: int = 0) -> None:
        super().__init__(every_n_g_steps=every_n_g_steps, every_n_epochs=every_n_epochs, at_train_start=True)
        from gan_lightning.callbacks.generative_metrics import GenerativeMetricsCallback

        # an experiment removes an option's evaluator by setting it to null
        self.evaluators: dict[str, PeriodicEvaluation] = {k: v for k, v in (evaluators or {}).items() if v is not None}
        self.feature_extractor = feature_extractor
        if generative is not None:
            self.evaluators = {"generative": GenerativeMetricsCallback(
                feature_extractor=feature_extractor, inception_weights=inception_weights,
                inception_weights_url=inception_weights_url, classifier_path=classifier_path, cache_dir=cache_dir,
                **generative), **self.evaluators}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for evaluator in self.evaluators.values():
            evaluator.setup(trainer, pl_module, stage)

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for evaluator in self.evaluators.values():
            values.update(evaluator.compute(trainer, pl_module))
        return values

    def metrics(self, record: dict[str, Any]) -> dict[str, float]:
        logged: dict[str, float] = {}
        for evaluator in self.evaluators.values():
            logged.update(evaluator.metrics(record))
        return logged

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "evaluators": {k: e.state_dict() for k, e in self.evaluators.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for name, state in (state_dict.get("evaluators") or {}).items():
            if name in self.evaluators:
                self.evaluators[name].load_state_dict(state)
