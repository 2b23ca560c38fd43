"""Running one evaluator in tests: on a schedule (inside the EvaluationCallback) or once (as eval.py does)."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers import Logger

from gan_lightning.callbacks.evaluation import EvaluationCallback
from gan_lightning.metrics.evaluator import EvalContext, Evaluator, compute_all


def scheduled(evaluator: Evaluator, name: str = "metric", every_n_g_steps: int = 0,
              every_n_epochs: int = 0) -> EvaluationCallback:
    """The evaluation callback with ``evaluator`` only (no generative metrics) on the given cadence."""
    return EvaluationCallback(evaluators={name: evaluator}, every_n_g_steps=every_n_g_steps,
                              every_n_epochs=every_n_epochs)


def evaluate_once(evaluator: Evaluator, module: Any, datamodule: Any, **context: Any) -> dict[str, Any]:
    """``setup`` then one ``compute`` under inference mode; the values."""
    evaluator.setup(module, datamodule, EvalContext(**context))
    return compute_all({"metric": evaluator}, module)[0]


def evaluate_on(evaluator: Evaluator, trainer: Any, module: Any) -> dict[str, Any]:
    """One evaluation as the callback runs it (set-up from ``trainer``, logging into it); the record."""
    callback = scheduled(evaluator)
    callback.setup(trainer, module, "fit")
    return callback.evaluate(trainer, module)


class RecordingLogger(Logger):
    """A Lightning logger that keeps every (step, metrics) it is given, for asserting what was logged."""

    name, version = "rec", 0

    def __init__(self):
        super().__init__()
        self.records: list[tuple[int, dict]] = []

    def log_metrics(self, metrics, step=None):
        self.records.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs):
        pass
