"""Lightning callbacks: checkpoints, sample grids, the NaN guard, and the evaluation callback that schedules the
evaluators of :mod:`gan_lightning.metrics`."""

from gan_lightning.callbacks.checkpoint import GeneratorStepCheckpoint
from gan_lightning.callbacks.evaluation import EvaluationCallback
from gan_lightning.callbacks.nan_guard import NaNGuard, NonFiniteLossError
from gan_lightning.callbacks.performance import PerformanceOptions
from gan_lightning.callbacks.progress import GeneratorStepProgressBar
from gan_lightning.callbacks.samples import SampleGridCallback
from gan_lightning.callbacks.tracking import WandbTracking

__all__ = [
    "EvaluationCallback",
    "GeneratorStepCheckpoint",
    "GeneratorStepProgressBar",
    "NaNGuard",
    "NonFiniteLossError",
    "PerformanceOptions",
    "SampleGridCallback",
    "WandbTracking",
]
