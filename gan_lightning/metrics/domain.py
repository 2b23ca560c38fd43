"""Offline "domain" FID / Inception Score computed with a :class:`DomainClassifier` instead of Inception-v3.

FID: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium".
IS: Salimans et al. 2016, "Improved Techniques for Training GANs".
Both statistics come from torchmetrics; this module only supplies the feature extractor and the plumbing.
Values are comparable only between runs that use the same classifier file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.nets.classifier import DomainClassifier
from gan_lightning.utils.net_files import load_net, save_net

TRAIN_COMMAND = "python -m gan_lightning.train_classifier data=<dataset>"


def save_classifier(model: DomainClassifier, path: str | os.PathLike, meta: dict) -> Path:
    """Write the classifier atomically (:func:`gan_lightning.utils.net_files.save_net`); ``meta``: e.g. dataset,
    image_size, test_accuracy."""
    return save_net(model, path, meta)


def load_domain_classifier(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> DomainClassifier:
    """Load a classifier written by :func:`save_classifier`, in eval mode with frozen weights; the file's ``meta``
    dict is attached as ``model.meta``.

    Raises:
        FileNotFoundError: ``path`` does not exist; the message names the command that creates it.
    """
    return load_net(DomainClassifier, path, "Domain classifier", TRAIN_COMMAND, map_location)


class DomainFeatureExtractor(nn.Module):
    """Adapts a classifier to torchmetrics' custom ``feature`` module protocol.

    torchmetrics hands the module the images exactly as given to ``update`` (FID with ``normalize=True`` and a
    custom module does not convert them): float (N, C, H, W) in [0, 1], or uint8 in [0, 255]. They are mapped
    back to the classifier's [-1, 1] range, channel-matched (mean / repeat) and bilinearly resized to
    ``classifier.image_size``.

    Args:
        classifier: module with ``features(x)``, ``forward(x)`` and ``channels``, ``image_size``, ``feature_dim``.
        output: ``"features"`` -> penultimate features (N, feature_dim) for FID;
            ``"logits"`` -> class logits (N, K) for IS (torchmetrics applies the softmax).
    """

    def __init__(self, classifier: nn.Module, output: str = "features"):
        super().__init__()
        if output not in ("features", "logits"):
            raise ValueError(f"output must be 'features' or 'logits', got {output!r}")
        self.classifier, self.output = classifier.eval(), output
        # Declaring the size stops FrechetInceptionDistance from probing with a dummy 3x299x299 batch.
        self.num_features = classifier.feature_dim if output == "features" else classifier.num_classes

    def train(self, mode: bool = True) -> "DomainFeatureExtractor":
        return super().train(False)  # BatchNorm / Dropout must never leave eval mode

    @torch.no_grad()
    def forward(self, imgs: Tensor) -> Tensor:
        x = imgs.float() / 255.0 if imgs.dtype == torch.uint8 else imgs.float()
        x = x * 2.0 - 1.0
        c = self.classifier.channels
        if x.shape[1] != c:  # e.g. RGB generator vs grayscale classifier: average, then replicate if needed
            x = x.mean(1, keepdim=True).expand(-1, c, -1, -1)
        size = self.classifier.image_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return self.classifier.features(x) if self.output == "features" else self.classifier(x)


@contextlib.contextmanager
def preserve_global_rng(device: torch.device | str | None = None) -> Iterator[None]:
    """Restore the global CPU (and ``device``'s CUDA) RNG afterwards, so evaluation never perturbs training."""
    cuda = []
    if device is not None and torch.device(device).type == "cuda":
        index = torch.device(device).index
        cuda = [torch.cuda.current_device() if index is None else index]
    with torch.random.fork_rng(devices=cuda):
        yield
