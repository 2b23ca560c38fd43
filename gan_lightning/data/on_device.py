"""A small train split kept on the training device as uint8 and batched by index there (``data.on_device``).

MNIST (47 MB as uint8), Fashion-MNIST and CIFAR-10 (154 MB) fit in a GPU's memory many times over. Kept there,
a batch is one gather and one conversion on the device: no worker processes, no per-batch host-to-device copy.
The order is the datamodule's :class:`~gan_lightning.data.sampler.ResumableRandomSampler` (same permutation,
exact mid-epoch resume, DDP shards), and the conversion is the one torchvision's ``ToTensor`` + ``Normalize(0.5,
0.5)`` makes, so the batches equal the worker DataLoader's bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from gan_lightning.data.sampler import ResumableRandomSampler


def from_uint8(images: Tensor) -> Tensor:
    """uint8 (N, C, H, W) in [0, 255] -> float32 (N, C, H, W) in [-1, 1], with the operations (and so the rounding)
    of torchvision's ``ToTensor`` (``x / 255``) and ``Normalize(0.5, 0.5)`` (``(x - 0.5) / 0.5``)."""
    return images.float().div_(255).sub_(0.5).div_(0.5)


def to_uint8(images: Tensor, what: str = "image") -> Tensor:
    """Inverse of :func:`from_uint8`: float (..., C, H, W) in [-1, 1] -> uint8 [0, 255].

    Raises:
        ValueError: some value is not ``from_uint8`` of an integer, i.e. the dataset's transform does more than
            quantize, resize and normalize (e.g. float-valued augmentation); names ``what`` and the fix.
    """
    u8 = (images * 0.5 + 0.5).mul_(255).round_().clamp_(0, 255).to(torch.uint8)
    if not torch.equal(from_uint8(u8), images.float()):
        raise ValueError(
            f"data.on_device=true keeps the train split as uint8, but {what} is not a uint8 image normalized to "
            "[-1, 1] (its transform produces other values). Fix: set data.on_device=false.")
    return u8


def materialize(dataset: Dataset) -> tuple[Tensor, Tensor | None]:
    """Every item of ``dataset`` as uint8 ``(N, C, H, W)`` plus int64 labels ``(N,)``; labels None when the items
    are images only. Items are ``image`` or ``(image, label)`` with image float (C, H, W) in [-1, 1].

    Raises:
        ValueError: from :func:`to_uint8`; an empty dataset.
    """
    if len(dataset) == 0:
        raise ValueError("data.on_device=true: the train split is empty")
    images, labels = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        image, label = item if isinstance(item, (tuple, list)) else (item, None)
        images.append(to_uint8(image, what=f"train item {i}"))
        labels.append(label)
    y = None if labels[0] is None else torch.as_tensor([int(label) for label in labels], dtype=torch.int64)
    return torch.stack(images), y


class DeviceBatches:
    """The train "loader" of ``data.on_device=true``: batches of rows of ``images`` (and ``labels``), taken in the
    order of ``sampler``.

    Args:
        images: uint8 (N, C, H, W), already on the training device.
        labels: int64 (N,) on the same device, or None (batches are then images only).
        sampler: the order; :meth:`ResumableRandomSampler.indices` applies its one-shot resume skip and DDP share.
        batch_size: rows per batch (the datamodule's ``batch_size * batches_per_step``).
        drop_last: drop a last, partial batch.

    Yields ``(x, y)`` (or ``x``), x float32 (B, C, H, W) in [-1, 1] on ``images.device``. Lightning finds
    ``sampler`` and calls its ``set_epoch``; the epoch is read when iteration starts.
    """

    def __init__(self, images: Tensor, labels: Tensor | None, sampler: ResumableRandomSampler, batch_size: int,
                 drop_last: bool = True) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        self.images, self.labels, self.sampler = images, labels, sampler
        self.batch_size, self.drop_last = int(batch_size), bool(drop_last)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        return self._batches()

    def _batches(self) -> Iterator[Any]:
        order = self.sampler.indices().to(self.images.device)
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = from_uint8(self.images[idx])
            yield x if self.labels is None else (x, self.labels[idx])


class RowBatches(Dataset):
    """``images`` (and ``labels``) as a map-style dataset indexed by a list of rows: ``dataset[indices]`` is a whole
    batch, ``(x, y)`` or ``x`` with x float32 (B, C, H, W) in [-1, 1]. For a plain ``DataLoader`` with
    ``batch_size=None`` and a ``BatchSampler`` (the metric nets' training loop): one gather per batch instead of a
    transform per item, and the batches :func:`from_uint8` gives equal the per-item loader's.
    """

    def __init__(self, images: Tensor, labels: Tensor | None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, indices: Any) -> Any:
        idx = torch.as_tensor(indices, dtype=torch.int64)
        x = from_uint8(self.images[idx])
        return x if self.labels is None else (x, self.labels[idx])
