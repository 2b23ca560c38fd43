"""Offline "domain" FID / Inception Score computed with a :class:`DomainClassifier` instead of Inception-v3.

FID: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium".
IS: Salimans et al. 2016, "Improved Techniques for Training GANs".
Both statistics come from torchmetrics; this module only supplies the feature extractor and the plumbing.
Values are comparable only between runs that use the same classifier file.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore

from gan_lightning.nets.classifier import DomainClassifier

TRAIN_COMMAND = "python -m gan_lightning.train_classifier data=<dataset>"


def save_classifier(model: DomainClassifier, path: str | os.PathLike, meta: dict) -> Path:
    """Write ``{"state_dict", "config", "meta"}`` to ``path`` atomically (``path.tmp`` then ``os.replace``).

    ``meta`` (e.g. dataset, image_size, test_accuracy) must hold plain Python values so that the file loads
    with ``torch.load(..., weights_only=True)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"state_dict": state, "config": dict(model.config), "meta": dict(meta)}, tmp)
    os.replace(tmp, path)  # readers never see a half-written file
    return path


def load_domain_classifier(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> DomainClassifier:
    """Load a classifier written by :func:`save_classifier`, in eval mode with frozen weights.

    The file's ``meta`` dict is attached as ``model.meta``.

    Raises:
        FileNotFoundError: ``path`` does not exist; the message names the command that creates it.
    """
    path = Path(path)
    if not path.is_file():
        hint = TRAIN_COMMAND
        # Files are named <dataset>_<image_size>.pt by conf/train_classifier.yaml: suggest the exact command.
        if m := re.fullmatch(r"(.+)_(\d+)", path.stem):
            hint += f" (here probably: python -m gan_lightning.train_classifier data={m[1]} data.image_size={m[2]})"
        raise FileNotFoundError(f"Domain classifier not found at {path}. Create it with: {hint}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    with torch.device("meta"):  # no random init: loading must not consume the global RNG (bit-exact resume)
        model = DomainClassifier(**ckpt["config"])
    model.load_state_dict(ckpt["state_dict"], assign=True)
    model.meta = dict(ckpt.get("meta", {}))
    return model.eval().requires_grad_(False)


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


class DomainMetrics(nn.Module):
    """Domain FID and domain IS of generated images against a fixed real reference.

    Call :meth:`update_real` once with the reference set (kept across :meth:`reset`), then per evaluation
    :meth:`update_fake` with all fake batches, :meth:`compute` and :meth:`reset`. All image arguments are
    (N, C, H, W) in [-1, 1] (values outside are clamped). Under DDP each rank feeds its shard and
    ``compute`` syncs the states through torchmetrics (every rank must call it).

    Args:
        classifier: a (loaded) :class:`DomainClassifier`, or any module with the same interface.
    """

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.fid = FrechetInceptionDistance(feature=DomainFeatureExtractor(classifier), normalize=True, reset_real_features=False)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
            self.inception = InceptionScore(feature=DomainFeatureExtractor(classifier, "logits"), splits=1)

    @staticmethod
    def _to_unit(images: Tensor) -> Tensor:
        return (images.detach().float().clamp(-1, 1) + 1) / 2  # torchmetrics' float convention is [0, 1]

    def update_real(self, images: Tensor) -> None:
        self.fid.update(self._to_unit(images), real=True)

    def update_fake(self, images: Tensor) -> None:
        x = self._to_unit(images)
        self.fid.update(x, real=False)
        self.inception.update(x)

    @property
    def num_real(self) -> int:
        return int(self.fid.real_features_num_samples)

    def compute(self) -> dict[str, float]:
        """``{"domain_fid", "domain_is"}`` of the fake images seen since the last reset.

        Raises:
            RuntimeError: fewer than 2 real or fake samples (from torchmetrics).
        """
        fid = self.fid.compute()
        # IS.compute() draws a permutation from the global RNG (irrelevant with splits=1) and warns on std of 1 split.
        with preserve_global_rng(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            is_mean, _ = self.inception.compute()
        return {"domain_fid": float(fid), "domain_is": float(is_mean)}

    def reset(self) -> None:
        """Forget the fake images; the real reference stays."""
        self.fid.reset()
        self.inception.reset()


def _batches(images: Tensor | Iterable[Tensor], batch_size: int) -> Iterator[Tensor]:
    if isinstance(images, Tensor):
        yield from images.split(batch_size)
    else:
        for b in images:
            yield b[0] if isinstance(b, (tuple, list)) else b  # (image, label) batches from a DataLoader


@torch.no_grad()
def domain_scores(
    classifier: nn.Module,
    fake: Tensor | Iterable[Tensor],
    real: Tensor | Iterable[Tensor],
    batch_size: int = 250,
) -> dict[str, float]:
    """One-shot ``{"domain_fid", "domain_is"}`` of ``fake`` against ``real``.

    Args:
        classifier: see :class:`DomainMetrics`.
        fake, real: a tensor (N, C, H, W) in [-1, 1] (split into ``batch_size`` chunks), or an iterable of such
            batches / of ``(images, labels)`` batches.
    """
    device = next((p.device for p in classifier.parameters()), torch.device("cpu"))
    metrics = DomainMetrics(classifier).to(device)
    for x in _batches(real, batch_size):
        metrics.update_real(x.to(device))
    for x in _batches(fake, batch_size):
        metrics.update_fake(x.to(device))
    return metrics.compute()
