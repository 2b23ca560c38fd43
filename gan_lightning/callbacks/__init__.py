"""Lightning callbacks: checkpoints, sample grids, metrics and the NaN guard."""

from gan_lightning.callbacks.checkpoint import GeneratorStepCheckpoint
from gan_lightning.callbacks.class_accuracy import ClassConditionalAccuracy
from gan_lightning.callbacks.clustering import ClusteringAccuracyCallback
from gan_lightning.callbacks.domain_metrics import DomainMetricsCallback
from gan_lightning.callbacks.evaluation import PeriodicEvaluation, TestSplitClassification, TestSplitEvaluation
from gan_lightning.callbacks.nan_guard import NaNGuard, NonFiniteLossError
from gan_lightning.callbacks.paired_metrics import PairedMetricsCallback
from gan_lightning.callbacks.progress import GeneratorStepProgressBar
from gan_lightning.callbacks.samples import SampleGridCallback
from gan_lightning.callbacks.test_error import TestErrorCallback
from gan_lightning.callbacks.translation_success import TranslationSuccessCallback

__all__ = [
    "ClassConditionalAccuracy",
    "ClusteringAccuracyCallback",
    "DomainMetricsCallback",
    "GeneratorStepCheckpoint",
    "GeneratorStepProgressBar",
    "NaNGuard",
    "NonFiniteLossError",
    "PairedMetricsCallback",
    "PeriodicEvaluation",
    "SampleGridCallback",
    "TestErrorCallback",
    "TestSplitClassification",
    "TestSplitEvaluation",
    "TranslationSuccessCallback",
]
