"""Image-quality and task metrics: FID / IS / KID under a protocol, the domain classifier, clustering accuracy,
the FCN-score, and the evaluators that compute them on a model (plain objects: ``setup(module, datamodule)``, then
``compute(module)``; :class:`gan_lightning.callbacks.EvaluationCallback` schedules them during training)."""

from gan_lightning.metrics.classification import (
    ClassAccuracyEvaluator,
    ClassifierErrorEvaluator,
    ClusteringEvaluator,
)
from gan_lightning.metrics.domain import (
    DomainFeatureExtractor,
    load_domain_classifier,
    preserve_global_rng,
    save_classifier,
)
from gan_lightning.metrics.evaluator import EvalContext, Evaluator, compute_all, inference_mode
from gan_lightning.metrics.fcn_score import (
    LABEL_DECODERS,
    FCNScore,
    LabelDecoder,
    decode_cityscapes,
    fcn_score,
    get_label_decoder,
    load_scorer,
    save_scorer,
    segmentation_scores,
)
from gan_lightning.metrics.generative import GenerativeMetrics, InceptionWeightsError, domain_scores
from gan_lightning.metrics.generative_evaluator import GenerativeEvaluator
from gan_lightning.metrics.translation import FCNScoreEvaluator, PairedEvaluator, TranslationSuccessEvaluator

__all__ = [
    "ClassAccuracyEvaluator",
    "ClassifierErrorEvaluator",
    "ClusteringEvaluator",
    "DomainFeatureExtractor",
    "EvalContext",
    "Evaluator",
    "FCNScore",
    "FCNScoreEvaluator",
    "GenerativeEvaluator",
    "GenerativeMetrics",
    "InceptionWeightsError",
    "LABEL_DECODERS",
    "LabelDecoder",
    "PairedEvaluator",
    "TranslationSuccessEvaluator",
    "compute_all",
    "decode_cityscapes",
    "domain_scores",
    "fcn_score",
    "get_label_decoder",
    "inference_mode",
    "load_domain_classifier",
    "load_scorer",
    "preserve_global_rng",
    "save_classifier",
    "save_scorer",
    "segmentation_scores",
]
