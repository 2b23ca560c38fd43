"""The generative-metrics evaluator: FID / IS / KID of a model's samples under a stated protocol (the scores
themselves: :mod:`gan_lightning.metrics.generative`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor, nn

from gan_lightning.metrics.domain import load_domain_classifier, preserve_global_rng
from gan_lightning.metrics.evaluator import EvalContext, Evaluator, warn_if_other_dataset
from gan_lightning.metrics.generative import (
    EXTRACTORS,
    INCEPTION_SHA256_PREFIX,
    INCEPTION_WEIGHTS,
    METRICS,
    GenerativeMetrics,
    ensure_inception_weights,
    load_or_compute_real,
)
from gan_lightning.utils.net_files import sha256_of

SPLITS = ("test", "train")


class GenerativeEvaluator(Evaluator):
    """FID, IS and KID of ``num_fake`` samples of ``module.generate`` (the EMA generator when enabled, eval
    mode) against ``num_real`` evenly spaced images of the real ``real_split``, named ``fid`` ... with the
    Inception extractor and ``domain_fid`` ... with the domain classifier, so the two never mix.

    The protocol (:attr:`protocol`: extractor and weights, resize, quantization, channel tiling, counts, split) is
    printed with every evaluation and kept in :meth:`state_dict` (checkpointed by the evaluation callback). The
    real statistics are cached under ``<cache_dir>/real_stats/`` keyed by the real side of the protocol. With
    ``reference``, the same scores of ``num_fake`` real *train* images against the reference are computed once as
    ``<name>_real`` (the floor of FID / KID and the ceiling of IS at this sample size, since small-N FID is biased
    upward).

    Under DDP each rank (the :class:`~gan_lightning.metrics.evaluator.EvalContext` of :meth:`setup`) generates its
    share with seed ``seed + rank`` and torchmetrics gathers the features, so every rank computes the same value.

    Args:
        feature_extractor: ``inception`` (standard, for publication) or ``domain`` (offline, fast on a CPU).
        names: metrics among ``fid``, ``is``, ``kid``.
        num_fake, num_real: sample counts (>= 2; FID needs >= 2048 for a full-rank covariance with Inception).
        real_split: ``test`` or ``train``.
        batch_size: images per generator / extractor call. seed: seed of the evaluation latents.
        inception_weights: the weights file (``inception``); inception_weights_url: where to download it from when
            it is missing (None: never). classifier_path: the domain classifier (``domain``).
        kid_subset_size, kid_subsets, is_splits: see :class:`~gan_lightning.metrics.generative.GenerativeMetrics`.
        reference: log the real-vs-real values once. cache_dir: where real statistics are cached (None: never).

    Raises:
        ValueError: bad arguments (naming the ``metrics.*`` key).
        InceptionWeightsError / FileNotFoundError: at ``setup`` (before training), missing weights (that could not
            be downloaded) or classifier.
    """

    config_key = "metrics.generative"

    def __init__(self, feature_extractor: str = "domain", names: list[str] | tuple[str, ...] = ("fid", "is"),
                 num_fake: int = 2000, num_real: int = 2000, real_split: str = "test", batch_size: int = 250,
                 seed: int = 1234, inception_weights: str | None = None, classifier_path: str | None = None,
                 kid_subset_size: int = 1000, kid_subsets: int = 100, is_splits: int = 10, reference: bool = True,
                 cache_dir: str | None = None, inception_weights_url: str | None = None) -> None:
        super().__init__()
        if feature_extractor not in EXTRACTORS:
            raise ValueError(f"metrics.feature_extractor must be one of {EXTRACTORS}, got {feature_extractor!r}.")
        if not set(names) <= set(METRICS) or not names:
            raise ValueError(f"metrics.generative.names must be a non-empty subset of {METRICS}, got {list(names)}.")
        for key, value in (("num_fake", num_fake), ("num_real", num_real)):
            if not isinstance(value, int) or value < 2:
                raise ValueError(f"metrics.generative.{key} must be an integer >= 2, got {value!r}.")
        if real_split not in SPLITS:
            raise ValueError(f"metrics.generative.real_split must be one of {SPLITS}, got {real_split!r}.")
        self.feature_extractor, self.names = feature_extractor, [m for m in METRICS if m in names]
        self.num_fake, self.num_real, self.real_split = num_fake, num_real, real_split
        self.batch_size, self.seed, self.reference, self.cache_dir = batch_size, seed, reference, cache_dir
        self.inception_weights, self.classifier_path = inception_weights, classifier_path
        self.inception_weights_url = inception_weights_url
        self.score_settings = {"kid_subset_size": kid_subset_size, "kid_subsets": kid_subsets, "is_splits": is_splits}
        self.prefix = "domain_" if feature_extractor == "domain" else ""
        self.real_values: dict[str, float] | None = None
        self._metrics: GenerativeMetrics | None = None
        self._real_ready = False
        self.protocol: dict[str, Any] = {}

    # ---- set-up -----------------------------------------------------------------------------------------
    def build(self, datamodule: Any = None) -> GenerativeMetrics:
        """Load the extractor (fails early on a missing file) and fix :attr:`protocol`."""
        if self._metrics is not None:
            return self._metrics
        if self.feature_extractor == "inception":
            if self.inception_weights is not None and not os.path.isfile(self.inception_weights):
                # only fetched here: GenerativeMetrics verifies the file (hashing it twice would cost a second)
                ensure_inception_weights(self.inception_weights, self.inception_weights_url)
            self._metrics = GenerativeMetrics("inception", self.names, inception_weights=self.inception_weights, **self.score_settings)
            extractor = {"extractor": "inception-v3-compat (torch-fidelity / TF FID Inception)",
                         "weights": f"{INCEPTION_WEIGHTS} (sha256 {INCEPTION_SHA256_PREFIX}...)",
                         "resize": "299x299 bilinear, TF-compatible (antialias=False)",
                         "channels": "grey tiled to 3"}
        else:
            if self.classifier_path is None:
                raise ValueError("metrics.feature_extractor=domain needs metrics.classifier_path.")
            classifier = load_domain_classifier(self.classifier_path)
            warn_if_other_dataset(self.classifier_path, classifier.meta.get("dataset"), datamodule)
            self._metrics = GenerativeMetrics("domain", self.names, classifier=classifier, **self.score_settings)
            # The file's hash, not its name, keys the cached real statistics: a retrained classifier gets new ones.
            extractor = {"extractor": f"domain classifier {os.path.basename(self.classifier_path)} (trained on "
                                      f"{classifier.meta.get('dataset', '?')}; not comparable with Inception scores)",
                         "classifier_sha256": sha256_of(self.classifier_path)[:16],
                         "resize": f"{classifier.image_size}x{classifier.image_size} bilinear, antialiased",
                         "channels": f"{classifier.channels}"}
        self.protocol = {**extractor, "quantization": "uint8, round(clamp((x + 1) / 2, 0, 1) * 255)",
                         "num_fake": self.num_fake, "num_real": self.num_real, "real_split": self.real_split,
                         "dataset": getattr(datamodule, "name", None), "image_size": getattr(datamodule, "image_size", None),
                         "metrics": self.names, **({"kid_subset_size": self.score_settings["kid_subset_size"]} if "kid" in self.names else {}),
                         **({"is_splits": self.score_settings["is_splits"]} if "is" in self.names else {})}
        return self._metrics

    def setup(self, module: nn.Module, datamodule: Any, context: EvalContext = EvalContext()) -> None:
        super().setup(module, datamodule, context)
        self.build(datamodule)

    # ---- evaluation -------------------------------------------------------------------------------------
    def compute(self, module: nn.Module) -> dict[str, Any]:
        dm, rank, world = self.datamodule, self.context.rank, self.context.world_size
        metrics = self.build(dm).to(module.device)
        if not self._real_ready:
            real_protocol = {k: v for k, v in self.protocol.items() if k != "num_fake"}
            load_or_compute_real(metrics, real_protocol, self.cache_dir,
                                 lambda: self.real_batches(self.dataset(dm, self.real_split), self.num_real, rank, world))
            self._real_ready = True
        values: dict[str, Any] = {}
        if self.reference and self.real_values is None:
            other = "train" if self.real_split == "test" else "test"
            self.real_values = self._score(metrics, self.real_batches(self.dataset(dm, other), self.num_fake, rank, world))
        if self.reference:
            values.update({f"{self.prefix}{k}_real": v for k, v in self.real_values.items()})
        fake = self._score(metrics, self.fake_batches(module, rank, world))
        values.update({f"{self.prefix}{k}": v for k, v in fake.items()})
        rank_zero_info(f"g_step {module.g_step}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items())
                       + f" | protocol: {self.protocol}")
        return values

    def _score(self, metrics: GenerativeMetrics, batches) -> dict[str, float]:
        try:
            for x in batches:
                metrics.update_fake(x)
            return metrics.compute()
        finally:
            metrics.reset()

    def fake_batches(self, module: nn.Module, rank: int, world: int) -> Iterator[Tensor]:
        """This rank's share of ``num_fake`` samples, from latents seeded by ``seed + rank``."""
        generator = torch.Generator(device=module.device).manual_seed(self.seed + rank)
        todo = len(range(rank, self.num_fake, world))
        while todo > 0:
            n = min(self.batch_size, todo)
            yield module.generate(n, generator=generator)
            todo -= n

    @staticmethod
    def dataset(dm: Any, split: str) -> Any:
        attr = f"{split}_set"
        if dm is None:
            raise RuntimeError("GenerativeEvaluator needs a datamodule (setup(module, datamodule) first)")
        if getattr(dm, attr, None) is None:
            dm.setup("test" if split == "test" else "fit")
        if getattr(dm, attr, None) is None:
            raise RuntimeError(f"{type(dm).__name__} has no {attr} for the generative metrics")
        return getattr(dm, attr)

    def real_batches(self, dataset: Any, count: int, rank: int, world: int) -> Iterator[Tensor]:
        """Images (B, C, H, W) of this rank's share of ``count`` evenly spaced items, read by index (a DataLoader
        iterator would draw from the global RNG)."""
        total = len(dataset)
        m = min(count, total)
        idx = [i * total // m for i in range(m)][rank::world]
        with preserve_global_rng():
            for start in range(0, len(idx), self.batch_size):
                items = [dataset[i] for i in idx[start : start + self.batch_size]]
                yield torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items])

    def state_dict(self) -> dict[str, Any]:
        return {"real_values": self.real_values, "protocol": dict(self.protocol)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.real_values = state_dict.get("real_values")
