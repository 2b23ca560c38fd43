"""Offline image-quality metrics."""

from gan_lightning.metrics.domain import (
    DomainFeatureExtractor,
    DomainMetrics,
    domain_scores,
    load_domain_classifier,
    preserve_global_rng,
    save_classifier,
)

__all__ = [
    "DomainFeatureExtractor",
    "DomainMetrics",
    "domain_scores",
    "load_domain_classifier",
    "preserve_global_rng",
    "save_classifier",
]
