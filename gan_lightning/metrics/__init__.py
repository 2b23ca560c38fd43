"""Image-quality and task metrics: FID / IS / KID under a protocol, the domain classifier, clustering accuracy,
the FCN-score."""

from gan_lightning.metrics.domain import (
    DomainFeatureExtractor,
    load_domain_classifier,
    preserve_global_rng,
    save_classifier,
)
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

__all__ = [
    "DomainFeatureExtractor",
    "FCNScore",
    "GenerativeMetrics",
    "InceptionWeightsError",
    "LABEL_DECODERS",
    "LabelDecoder",
    "decode_cityscapes",
    "domain_scores",
    "fcn_score",
    "get_label_decoder",
    "load_domain_classifier",
    "load_scorer",
    "preserve_global_rng",
    "save_classifier",
    "save_scorer",
    "segmentation_scores",
]
