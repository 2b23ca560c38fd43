"""FCN-score (Isola et al. 2017, sec. 4.2): a semantic segmentation network trained on real photos segments the
generated photos, and the score is how well its segmentation recovers the input label map: per-pixel accuracy,
per-class accuracy and class IoU, the three measures of Long et al. 2015 (FCN), sec. 5, as in pix2pix's
Cityscapes evaluation. The same numbers on the real photos are the "ground truth" upper bound of the paper's
tables. Values are comparable only between runs scored with the same segmenter file.

Pieces: :func:`segmentation_scores` (the measures from a confusion matrix), :class:`FCNScore` (a torchmetrics
metric accumulating that matrix), :data:`LABEL_DECODERS` (label map images -> class ids), :func:`save_scorer` /
:func:`load_scorer` (the segmenter written by ``python -m gan_lightning.train_scorer``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor
from torchmetrics import Metric

from gan_lightning.data.fashion_tasks import NUM_LABEL_IDS, decode_label_map
from gan_lightning.nets.fcn import FCNSegmenter
from gan_lightning.utils.net_files import load_net, save_net

TRAIN_COMMAND = "python -m gan_lightning.train_scorer data=labels2fashion"
IGNORE_INDEX = 255  # Cityscapes' train id of everything outside the 19 evaluated classes

# The 19 evaluated Cityscapes classes in train-id order (0..18) and their colours in the official palette.
CITYSCAPES_CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                      "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                      "motorcycle", "bicycle")
CITYSCAPES_PALETTE = torch.tensor([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0),
    (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
], dtype=torch.uint8)
# Largest RGB distance (0..255 units, Euclidean) still read as a palette colour: absorbs the JPEG noise of
# pix2pix's released cityscapes files, and stays below half the closest pair (bus / train, and truck / the
# unevaluated caravan (0, 0, 90), are 20 apart), so no colour can decode to a wrong class.
CITYSCAPES_TOLERANCE = 8.0


def decode_cityscapes(images: Tensor, tolerance: float = CITYSCAPES_TOLERANCE) -> Tensor:
    """Cityscapes colour label maps (N, 3, H, W) (or (3, H, W)) in [-1, 1] -> train ids int64 (N, H, W) (or
    (H, W)) in 0..18, or :data:`IGNORE_INDEX` (255) for any colour farther than ``tolerance`` (RGB units 0..255)
    from every colour of :data:`CITYSCAPES_PALETTE` (void, unevaluated classes such as parking or caravan).

    Raises:
        ValueError: the channel dimension is not 3.
    """
    if images.dim() < 3 or images.shape[-3] != 3:
        raise ValueError(f"expected colour label maps (N, 3, H, W) or (3, H, W), got shape {tuple(images.shape)}")
    palette = CITYSCAPES_PALETTE.to(images.device, torch.float32)
    flat = images.reshape(-1, *images.shape[-3:])
    out = []
    for chunk in flat.split(8):  # bounds the (n, H, W, 19) distance tensor at 256 px
        rgb = (chunk.float() + 1) * 127.5
        dist = (rgb.movedim(1, -1).unsqueeze(-2) - palette).square().sum(-1)
        best, ids = dist.min(-1)
        out.append(torch.where(best <= tolerance**2, ids, torch.full_like(ids, IGNORE_INDEX)))
    return torch.cat(out).reshape(*images.shape[:-3], *images.shape[-2:])


class LabelDecoder(NamedTuple):
    """How a task's label map images become class ids: ``decode(images (N, 3, H, W) in [-1, 1]) -> ids (N, H, W)``
    int64, the number of classes K, and the id of pixels to skip (None: none)."""

    decode: Callable[[Tensor], Tensor]
    num_classes: int
    ignore_index: int | None


LABEL_DECODERS: dict[str, LabelDecoder] = {
    "labels2fashion": LabelDecoder(decode_label_map, NUM_LABEL_IDS, None),  # 0 background, class + 1 on the item
    "cityscapes": LabelDecoder(decode_cityscapes, len(CITYSCAPES_PALETTE), IGNORE_INDEX),
}


def get_label_decoder(name: str, key: str = "label_decoder") -> LabelDecoder:
    """The :data:`LABEL_DECODERS` entry ``name``.

    Raises:
        ValueError: an unknown name; the message names the config ``key`` and the known decoders.
    """
    if name not in LABEL_DECODERS:
        raise ValueError(f"{key}={name!r} is not a known label decoder: use one of {', '.join(LABEL_DECODERS)}.")
    return LABEL_DECODERS[name]


def segmentation_scores(confusion: Tensor) -> dict[str, float]:
    """The three FCN / pix2pix segmentation measures of a confusion matrix (K, K) of pixel counts (rows = true
    class, columns = predicted class):

    * ``pixel_accuracy`` = trace / total;
    * ``class_accuracy`` = mean over the classes with at least one true pixel of diag / row sum;
    * ``class_iou`` = mean over the classes present in the truth or the prediction of
      diag / (row sum + column sum - diag).

    All in [0, 1].

    Raises:
        ValueError: a matrix that is not square, or holds no pixels.
    """
    if confusion.dim() != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion matrix must be (K, K), got shape {tuple(confusion.shape)}")
    c = confusion.detach().to("cpu", torch.float64)
    total = c.sum()
    if total <= 0:
        raise ValueError("confusion matrix holds no pixels: nothing was scored (all pixels ignored?)")
    diag, rows, cols = c.diagonal(), c.sum(1), c.sum(0)
    union = rows + cols - diag
    return {
        "pixel_accuracy": float(diag.sum() / total),
        "class_accuracy": float((diag[rows > 0] / rows[rows > 0]).mean()),
        "class_iou": float((diag[union > 0] / union[union > 0]).mean()),
    }


class FCNScore(Metric):
    """Accumulates one (K, K) confusion matrix (rows = true, columns = predicted) over :meth:`update` calls;
    :meth:`compute` returns :func:`segmentation_scores` of it. The state is summed across processes under DDP
    (torchmetrics syncs it in ``compute``).

    Args:
        num_classes: K.
        ignore_index: pixels whose TRUE id equals it are skipped (Cityscapes' 255); None skips nothing.
        **kwargs: torchmetrics ``Metric`` options (e.g. ``sync_on_compute=False``).

    Raises:
        ValueError: ``num_classes < 1``; in :meth:`update`, mismatched shapes or an id outside 0..K-1 (other than
            ``ignore_index`` in the truth).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    confusion: Tensor

    def __init__(self, num_classes: int, ignore_index: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, pred_ids: Tensor, true_ids: Tensor) -> None:
        """Count predicted ids (N, H, W) against true ids (N, H, W), both integer (any shape, if equal)."""
        if pred_ids.shape != true_ids.shape:
            raise ValueError(f"pred_ids {tuple(pred_ids.shape)} and true_ids {tuple(true_ids.shape)} differ in shape")
        pred, true = pred_ids.reshape(-1).long(), true_ids.reshape(-1).long()
        if self.ignore_index is not None:
            keep = true != self.ignore_index
            pred, true = pred[keep], true[keep]
        k = self.num_classes
        ignored = "" if self.ignore_index is None else f" or be {self.ignore_index}"
        for name, ids, also in (("true_ids", true, ignored), ("pred_ids", pred, "")):
            if ids.numel() and (ids.min() < 0 or ids.max() >= k):
                raise ValueError(f"{name} must lie in 0..{k - 1}{also}, got {int(ids.min())}..{int(ids.max())}")
        # bincount without weights is deterministic on CUDA too
        self.confusion += torch.bincount(true * k + pred, minlength=k * k).reshape(k, k)

    def compute(self) -> dict[str, float]:
        return segmentation_scores(self.confusion)


@torch.no_grad()
def fcn_score(scorer: torch.nn.Module, batches: Iterable[tuple[Tensor, Tensor]], num_classes: int,
              ignore_index: int | None = None) -> dict[str, float]:
    """One-shot :func:`segmentation_scores` of ``scorer`` over ``(images (N, C, H, W) in [-1, 1], true ids
    (N, H, W))`` batches; images are clamped to [-1, 1] and moved to the scorer's device. The scorer should be in
    eval mode (as :func:`load_scorer` returns it)."""
    device = next(iter([*scorer.parameters(), *scorer.buffers()]), torch.empty(0)).device
    metric = FCNScore(num_classes, ignore_index, sync_on_compute=False).to(device)
    for images, ids in batches:
        pred = scorer(images.to(device).float().clamp(-1, 1)).argmax(1)
        metric.update(pred, ids.to(device))
    return metric.compute()


def save_scorer(model: FCNSegmenter, path: str | os.PathLike, meta: dict) -> Path:
    """Write the segmenter atomically (:func:`gan_lightning.utils.net_files.save_net`); ``meta`` (dataset,
    image_size, label_decoder, real_scores, steps) holds plain Python values."""
    return save_net(model, path, meta)


def load_scorer(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> FCNSegmenter:
    """Load a segmenter written by :func:`save_scorer`, in eval mode with frozen weights; its ``meta`` dict is
    attached as ``model.meta``.

    Raises:
        FileNotFoundError: ``path`` does not exist; the message names the command that creates it.
    """
    return load_net(FCNSegmenter, path, "FCN-score segmenter", TRAIN_COMMAND, map_location)
