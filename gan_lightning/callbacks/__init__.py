"""Lightning callbacks: checkpoints, sample grids, metrics and the NaN guard."""

from gan_lightning.callbacks.checkpoint import GeneratorStepCheckpoint
from gan_lightning.callbacks.domain_metrics import DomainMetricsCallback
from gan_lightning.callbacks.nan_guard import NaNGuard, NonFiniteLossError
from gan_lightning.callbacks.progress import GeneratorStepProgressBar
from gan_lightning.callbacks.samples import SampleGridCallback

__all__ = ["DomainMetricsCallback", "GeneratorStepProgressBar", "GeneratorStepCheckpoint", "NaNGuard", "NonFiniteLossError", "SampleGridCallback"]
