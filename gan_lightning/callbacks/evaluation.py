"""The one evaluation callback: it schedules the evaluators of :mod:`gan_lightning.metrics` in generator steps,
logs what they return against ``trainer/g_step`` and keeps a history saved in checkpoints."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from gan_lightning.metrics.evaluator import EvalContext, Evaluator, compute_all
from gan_lightning.metrics.generative_evaluator import GenerativeEvaluator


def log_metrics(trainer: pl.Trainer, pl_module: pl.LightningModule, metrics: dict[str, float]) -> None:
    """Send ``metrics`` to every logger at ``step=trainer.global_step`` with ``trainer/g_step``, and copy them into
    ``trainer.callback_metrics`` (``pl_module.log`` is not allowed in on_train_start / on_train_end)."""
    for logger in trainer.loggers:  # Lightning loggers are rank-zero-only themselves
        logger.log_metrics({**metrics, "trainer/g_step": int(pl_module.g_step)}, step=trainer.global_step)
    trainer.callback_metrics.update({k: torch.tensor(float(v)) for k, v in metrics.items()})


def build_evaluators(evaluators: dict[str, Evaluator | None] | None = None, generative: dict[str, Any] | None = None,
                     **extractor: Any) -> dict[str, Evaluator]:
    """The evaluators of a ``metrics`` config, in evaluation order: ``generative`` (a
    :class:`~gan_lightning.metrics.GenerativeEvaluator` with ``generative``'s keyword arguments and the shared
    ``extractor`` ones: ``feature_extractor``, ``inception_weights``, ``inception_weights_url``,
    ``classifier_path``, ``cache_dir``; none if ``generative`` is None), then the task ``evaluators`` (an entry set
    to None, as an experiment removes one of its metrics group, is dropped)."""
    tasks = {k: v for k, v in (evaluators or {}).items() if v is not None}
    if generative is None:
        return tasks
    return {"generative": GenerativeEvaluator(**extractor, **generative), **tasks}


class EvaluationCallback(pl.Callback):
    """The one evaluation callback of every model (the ``metrics`` config group): one cadence for all metrics,
    every ``every_n_g_steps`` generator steps and at the end of every ``every_n_epochs``-th epoch, before the first
    step and at the end of training, at most once per generator step (an epoch end or train end often falls on an
    evaluated step).

    The evaluators (:func:`build_evaluators`): the generative metrics FID / IS / KID of samples (``generative``;
    None for models that do not sample from z), with ``feature_extractor`` ``inception`` or ``domain``, then the
    task metrics ``evaluators`` by name (semi-supervised test error, clustering accuracy, class-conditional
    accuracy, paired L1 / PSNR / SSIM, translation success, FCN-score). They run under
    :func:`~gan_lightning.metrics.evaluator.inference_mode`, so training is bit-identical with or without them.
    Float values are logged as ``metrics/<name>``; :attr:`history` holds one record ``{"g_step", "epoch",
    **values}`` per evaluation and is saved in checkpoints with each evaluator's state, so a resumed run does not
    re-evaluate the same step.

    Args:
        evaluators: task evaluators by name (may be empty).
        generative: keyword arguments of :class:`~gan_lightning.metrics.GenerativeEvaluator` (``names``,
            ``num_fake``, ``num_real``, ``real_split``, ``batch_size``, ``seed``, ...), or None.
        feature_extractor, inception_weights, inception_weights_url, classifier_path, cache_dir: the extractor
            choice, its files (and where missing Inception weights are downloaded from) and the real-statistics
            cache, shared by the generative metrics.
        every_n_g_steps, every_n_epochs: the cadence (0 or None: off; the start and end always run).

    Raises:
        ValueError: bad cadence or generative arguments (naming the ``metrics.*`` key).
    """

    def __init__(self, evaluators: dict[str, Evaluator | None] | None = None, generative: dict[str, Any] | None = None,
                 feature_extractor: str = "domain", inception_weights: str | None = None,
                 inception_weights_url: str | None = None, classifier_path: str | None = None,
                 cache_dir: str | None = None, every_n_g_steps: int | None = 1000, every_n_epochs: int | None = 0) -> None:
        for key, value in (("every_n_g_steps", every_n_g_steps), ("every_n_epochs", every_n_epochs)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"metrics.{key} must be an integer >= 0 (0 or null: off), got {value!r}.")
        self.every_n_g_steps, self.every_n_epochs = every_n_g_steps or 0, every_n_epochs or 0
        self.evaluators = build_evaluators(
            evaluators, generative, feature_extractor=feature_extractor, inception_weights=inception_weights,
            inception_weights_url=inception_weights_url, classifier_path=classifier_path, cache_dir=cache_dir)
        self.history: list[dict[str, Any]] = []
        self._last_g_step: int | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        context = EvalContext(rank=trainer.global_rank, world_size=trainer.world_size, quick=bool(trainer.fast_dev_run))
        for evaluator in self.evaluators.values():
            evaluator.setup(pl_module, trainer.datamodule, context)

    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """Evaluate now; log, record and return ``{"g_step", "epoch", **values}``."""
        values, logged = compute_all(self.evaluators, pl_module)
        record = {"g_step": int(pl_module.g_step), "epoch": int(trainer.current_epoch), **values}
        self.history.append(record)
        self._last_g_step = record["g_step"]
        log_metrics(trainer, pl_module, logged)
        return record

    def _evaluate_once(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._last_g_step != int(pl_module.g_step):
            self.evaluate(trainer, pl_module)

    # ---- Lightning hooks -------------------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
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
        return {"history": list(self.history), "last_g_step": self._last_g_step,
                "evaluators": {k: e.state_dict() for k, e in self.evaluators.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
        self._last_g_step = state_dict.get("last_g_step")
        for name, state in (state_dict.get("evaluators") or {}).items():
            if name in self.evaluators:
                self.evaluators[name].load_state_dict(state)
