"""Lightning callbacks: checkpoints, sample grids, the NaN guard, and the evaluation callback with its evaluators."""

from gan_lightning.callbacks.checkpoint import GeneratorStepCheckpoint
from gan_lightning.callbacks.class_accuracy import ClassConditionalAccuracy
from gan_lightning.callbacks.clustering import ClusteringAccuracyCallback
from gan_lightning.callbacks.evaluation import (
    EvaluationCallback,
    PeriodicEvaluation,
    TestSplitClassification,
    TestSplitEvaluation,
)
from gan_lightning.callbacks.fcn_score import FCNScoreCallback
from gan_lightning.callbacks.generative_metrics import GenerativeMetricsCallback
from gan_lightning.callbacks.nan_guard import NaNGuard, NonFiniteLossError
from gan_lightning.callbacks.paired_metrics import PairedMetricsCallback
from gan_lightning.callbacks.performance import PerformanceOptions
from gan_lightning.callbacks.progress import GeneratorStepProgressBar
from gan_lightning.callbacks.samples import SampleGridCallback
from gan_lightning.callbacks.test_error import TestErrorCallback
from gan_lightning.callbacks.tracking import WandbTracking
from gan_lightning.callbacks.translation_success import TranslationSuccessCallback

__all__ = [
    "ClassConditionalAccuracy",
    "ClusteringAccuracyCallback",
    "EvaluationCallback",
    "FCNScoreCallback",
    "GenerativeMetricsCallback",
    "GeneratorStepCheckpoint",
    "GeneratorStepProgressBar",
    "NaNGuard",
    "NonFiniteLossError",
    "PairedMetricsCallback",
    "PerformanceOptions",
    "PeriodicEvaluation",
    "SampleGridCallback",
    "TestErrorCallback",
    "TestSplitClassification",
    "TestSplitEvaluation",
    "TranslationSuccessCallback",
    "WandbTracking",
]
