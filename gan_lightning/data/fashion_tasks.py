"""Translation tasks built from the real Fashion-MNIST files, in pix2pix's and CycleGAN's folder formats.

The standard sets (facades, edges2handbags, cityscapes, horse2zebra) cannot be had offline, so these tasks stand in
for them on real images. Each 28x28 item is first upsampled (bicubic) to ``image_size`` (32 or 64); that photo
is the "B" side.

* ``edges2fashion`` (aligned, like edges2shoes / edges2handbags): A = Canny edges of the photo, black edges on white
  as in pix2pix's edges2* sets, B = the photo. Isola 2017 drew those edges with the HED detector plus post-processing;
  HED needs pretrained weights, so Canny (``cv2.Canny``, :data:`CANNY_THRESHOLDS`) is the substitute here.
* ``labels2fashion`` (aligned, like cityscapes labels -> photo): A = a colour-coded semantic label map, B = the
  photo. Ids: 0 = background, ``class + 1`` on the item (Fashion-MNIST's class 0, T-shirt, would otherwise collide
  with background), 11 ids in all, drawn with :data:`LABELS2FASHION_PALETTE`. See :func:`foreground_mask`.
* ``sneaker2boot`` (unaligned, like horse2zebra): trainA / testA = Sneakers (class 7), trainB / testB = Ankle boots
  (class 9) of the train / test split.
* ``labels2fashion_unpaired`` (unaligned): the labels2fashion domains with the pairing destroyed, for comparing
  CycleGAN with pix2pix on one task (as Zhu et al. 2017 do on Cityscapes). Both train folders hold the same items,
  but position ``j`` of ``trainB`` holds the photo of item ``sigma(j) != j`` for a fixed random derangement
  ``sigma``, so no file has its partner at the same position (in sorted order). The test split stays paired, as
  the paper's evaluation on Cityscapes' labelled val set, so the paired metrics and FCN-score apply to both models.

A task is written once under ``<cache_dir>/translation/<task>_<size>px_train-<n>_test-<n>_v2`` (into a temporary
folder renamed at the end, so a folder that exists is complete); ``manifest.json`` there records, for every folder,
the source split, the source index and the Fashion-MNIST class of each file (file ``j`` = position ``j``).
``max_train`` / ``max_test`` keep the first images of each split (per domain for the unaligned tasks).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from gan_lightning.data.base import DataNotFoundError, _check, is_writable
from gan_lightning.data.translation import AlignedDataModule, UnalignedDataModule
from gan_lightning.data.vision import FashionMNISTDataModule

log = logging.getLogger(__name__)

# task -> format
TASKS = {
    "edges2fashion": "aligned",
    "labels2fashion": "aligned",
    "sneaker2boot": "unaligned",
    "labels2fashion_unpaired": "unaligned",
}
IMAGE_SIZES = (32, 64)
FORMAT_VERSION = 2  # bump when the content of a task changes, so old cache folders are not reused
MANIFEST = "manifest.json"

CANNY_THRESHOLDS = (100, 200)  # hysteresis thresholds on the 0..255 photo; clean outlines at 32 and 64 px
FOREGROUND_THRESHOLD = 0.1  # share of the item's brightest pixel
SNEAKER, ANKLE_BOOT = 7, 9
UNPAIRED_SEED = 0  # of the derangement of labels2fashion_unpaired

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
LABELS2FASHION_CLASSES = ("background", *FASHION_MNIST_CLASSES)  # index = label id
# RGB colour of each label id: background black, then colours at least 127 apart (Euclidean) from each other.
LABELS2FASHION_PALETTE = torch.tensor([
    (0, 0, 0),  # 0 background
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255),  # 1..5: T-shirt .. Coat
    (0, 255, 255), (255, 255, 255), (128, 128, 128), (255, 128, 0), (128, 0, 255),  # 6..10: Sandal .. Ankle boot
], dtype=torch.uint8)
NUM_LABEL_IDS = len(LABELS2FASHION_PALETTE)


def encode_label_map(ids: Tensor) -> Tensor:
    """Label ids ``(N, H, W)`` (or ``(H, W)``), integers in ``0..10`` -> palette images float32 ``(N, 3, H, W)``
    (or ``(3, H, W)``) in ``[-1, 1]``, the value range of a batch.

    Raises:
        ValueError: an id outside ``0..10``.
    """
    ids = torch.as_tensor(ids).long()
    if ids.numel() and (ids.min() < 0 or ids.max() >= NUM_LABEL_IDS):
        raise ValueError(f"label ids must lie in 0..{NUM_LABEL_IDS - 1}, got {ids.min().item()}..{ids.max().item()}")
    rgb = LABELS2FASHION_PALETTE.to(ids.device)[ids].movedim(-1, -3)
    return rgb.to(torch.float32) / 127.5 - 1.0


def decode_label_map(images: Tensor) -> Tensor:
    """Palette images ``(N, 3, H, W)`` (or ``(3, H, W)``) in ``[-1, 1]`` -> label ids int64 ``(N, H, W)`` (or
    ``(H, W)``): the id of the nearest palette colour (Euclidean in RGB), so slightly off colours (a generator's
    output) decode too. Exact inverse of :func:`encode_label_map`.

    Raises:
        ValueError: the channel dimension is not 3.
    """
    if images.dim() < 3 or images.shape[-3] != 3:
        raise ValueError(f"expected palette images (N, 3, H, W) or (3, H, W), got shape {tuple(images.shape)}")
    palette = LABELS2FASHION_PALETTE.to(images.device, torch.float32) / 127.5 - 1.0  # (K, 3)
    x = images.to(torch.float32).movedim(-3, -1).unsqueeze(-2)  # (..., H, W, 1, 3)
    return (x - palette).square().sum(-1).argmin(-1)


def upsample(images: Tensor, size: int) -> Tensor:
    """uint8 ``(N, 28, 28)`` -> uint8 ``(N, size, size)``, bicubic (clamped, rounded)."""
    out = []
    for chunk in images.split(4096):
        x = chunk[:, None].float()
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
        out.append(x[:, 0].clamp(0, 255).round().to(torch.uint8))
    return torch.cat(out) if out else images.new_zeros((0, size, size))


def canny_edges(photos: Tensor) -> Tensor:
    """uint8 ``(N, H, W)`` -> bool ``(N, H, W)`` edge pixels (``cv2.Canny``, :data:`CANNY_THRESHOLDS`, L2 gradient)."""
    lo, hi = CANNY_THRESHOLDS
    edges = [cv2.Canny(np.ascontiguousarray(p), lo, hi, L2gradient=True) > 0 for p in photos.numpy()]
    return torch.from_numpy(np.stack(edges)) if edges else torch.zeros(photos.shape, dtype=torch.bool)


def foreground_mask(photos: Tensor) -> Tensor:
    """uint8 ``(N, H, W)`` photos -> bool ``(N, H, W)`` item pixels.

    A pixel is foreground if it is brighter than :data:`FOREGROUND_THRESHOLD` times the item's brightest pixel
    (Fashion-MNIST backgrounds are exactly 0), then a 3x3 morphological closing fills one-pixel gaps (seams,
    dark prints). The closing only adds pixels, so every pixel above the threshold stays foreground.
    """
    kernel = np.ones((3, 3), np.uint8)
    masks = []
    for p in photos.numpy():
        above = (p.astype(np.float32) > FOREGROUND_THRESHOLD * float(p.max())) & (p > 0)
        closed = cv2.morphologyEx(above.astype(np.uint8), cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
        masks.append((closed > 0) | above)
    return torch.from_numpy(np.stack(masks)) if masks else torch.zeros(photos.shape, dtype=torch.bool)


def label_ids(photos: Tensor, classes: Tensor) -> Tensor:
    """int64 ``(N, H, W)``: ``class + 1`` on :func:`foreground_mask`, 0 elsewhere."""
    return foreground_mask(photos).long() * (classes.long() + 1).view(-1, 1, 1)


def task_dir_name(task: str, image_size: int, max_train: int | None, max_test: int | None) -> str:
    """The cache folder of one configuration, e.g. ``edges2fashion_32px_train-all_test-all_v2``."""
    def count(n: int | None) -> str:
        return "all" if n is None else str(int(n))
    return f"{task}_{image_size}px_train-{count(max_train)}_test-{count(max_test)}_v{FORMAT_VERSION}"


def load_fashion_mnist(data_dir: str | Path, cache_dir: str | Path | None, task: str = "this task"
                       ) -> dict[str, tuple[Tensor, Tensor]]:
    """``{"train": (images, labels), "test": (...)}``: uint8 ``(N, 28, 28)`` and int64 ``(N,)``, read by
    torchvision from ``<data_dir>/FashionMNIST/raw`` (copied into ``cache_dir`` first if read-only).

    Raises:
        DataNotFoundError: the files are missing (the message names the folder and the files expected).
    """
    cache = None if cache_dir is None else str(cache_dir)
    dm = FashionMNISTDataModule(data_dir=str(data_dir), cache_dir=cache, image_size=28)
    try:
        train, test = dm.build_datasets()
    except DataNotFoundError as e:
        raise DataNotFoundError(f"{task} is built from the real Fashion-MNIST files. {e}") from e
    return {split: (ds.data.clone(), torch.as_tensor(ds.targets, dtype=torch.int64))
            for split, ds in (("train", train), ("test", test))}


def _save(path: Path, pixels: np.ndarray) -> None:
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, compress_level=1)


def _write_folder(folder: Path, images: np.ndarray) -> None:
    folder.mkdir(parents=True)
    width = max(5, len(str(len(images) - 1)))
    for j, pixels in enumerate(images):
        _save(folder / f"{j:0{width}d}.png", pixels)


def _first(labels: Tensor, limit: int | None, cls: int | None = None) -> Tensor:
    idx = torch.arange(len(labels)) if cls is None else torch.nonzero(labels == cls).flatten()
    return idx if limit is None else idx[:limit]


def _derangement(n: int, seed: int) -> Tensor:
    """A permutation without fixed points (one n-cycle through a random order); n >= 2."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    sigma = torch.empty(n, dtype=torch.int64)
    sigma[order] = order.roll(-1)
    return sigma


def _aligned_images(task: str, photos: Tensor, classes: Tensor) -> np.ndarray:
    if task == "edges2fashion":
        drawing = torch.where(canny_edges(photos), 0, 255).to(torch.uint8)  # black edges on white
        return torch.cat([drawing, photos], dim=-1).numpy()  # (N, S, 2S) grayscale
    label_rgb = LABELS2FASHION_PALETTE[label_ids(photos, classes)]  # (N, S, S, 3)
    return torch.cat([label_rgb, photos[..., None].expand(-1, -1, -1, 3)], dim=-2).numpy()  # (N, S, 2S, 3)


def _write_task(out: Path, task: str, raw: dict[str, tuple[Tensor, Tensor]], image_size: int,
                max_train: int | None, max_test: int | None) -> dict[str, Any]:
    folders: dict[str, dict[str, Any]] = {}

    def record(folder: str, split: str, index: Tensor, labels: Tensor) -> None:
        folders[folder] = {"source_split": split, "source_index": index.tolist(), "label": labels[index].tolist()}

    for split, limit in (("train", max_train), ("test", max_test)):
        images, labels = raw[split]
        if task in ("edges2fashion", "labels2fashion"):
            idx = _first(labels, limit)
            _write_folder(out / split, _aligned_images(task, upsample(images[idx], image_size), labels[idx]))
            record(split, split, idx, labels)
        elif task == "sneaker2boot":
            for domain, cls in (("A", SNEAKER), ("B", ANKLE_BOOT)):
                idx = _first(labels, limit, cls)
                _write_folder(out / f"{split}{domain}", upsample(images[idx], image_size).numpy())
                record(f"{split}{domain}", split, idx, labels)
        else:  # labels2fashion_unpaired
            idx = _first(labels, limit)
            photos = upsample(images[idx], image_size)
            # training is unpaired; the test split keeps its pairs for evaluation
            sigma = _derangement(len(idx), UNPAIRED_SEED) if split == "train" else torch.arange(len(idx))
            _write_folder(out / f"{split}A", LABELS2FASHION_PALETTE[label_ids(photos, labels[idx])].numpy())
            _write_folder(out / f"{split}B", photos[sigma].numpy())
            record(f"{split}A", split, idx, labels)
            record(f"{split}B", split, idx[sigma], labels)
    return {"task": task, "format": TASKS[task], "image_size": image_size, "max_train": max_train,
            "max_test": max_test, "version": FORMAT_VERSION, "folders": folders}


def build_fashion_task(task: str, *, data_dir: str | Path, cache_dir: str | Path | None, image_size: int = 32,
                       max_train: int | None = None, max_test: int | None = None) -> Path:
    """Write ``task`` (see the module docstring) from the real Fashion-MNIST files once; return its folder.

    The folder is ``<cache_dir or data_dir>/translation/<task_dir_name(...)>``; if it exists it is complete (it
    appears by an atomic rename of a finished temporary folder) and is reused as it is.

    Raises:
        ValueError: unknown ``task``, ``image_size`` not 32 / 64, ``max_train`` / ``max_test`` < 1 (< 2 for
            labels2fashion_unpaired, whose derangement needs two items).
        DataNotFoundError: Fashion-MNIST missing, or no writable folder to build into.
    """
    _check("task", task, task in TASKS, f"use one of {', '.join(TASKS)}")
    _check("image_size", image_size, image_size in IMAGE_SIZES,
           f"the Fashion-MNIST tasks are built at {' or '.join(map(str, IMAGE_SIZES))} pixels")
    least = 2 if task == "labels2fashion_unpaired" else 1
    for key, value in (("max_train", max_train), ("max_test", max_test)):
        _check(key, value, value is None or value >= least, f"use null (all images) or at least {least}")
    base = Path(cache_dir if cache_dir is not None else data_dir).expanduser().resolve() / "translation"
    final = base / task_dir_name(task, image_size, max_train, max_test)
    if (final / MANIFEST).is_file():
        return final
    if not is_writable(base):
        raise DataNotFoundError(
            f"{task} must be built into {base}, which is not writable. Fix: set `paths.cache_dir=/abs/writable/path` "
            "(or the env var GAN_CACHE_DIR)."
        )
    raw = load_fashion_mnist(data_dir, cache_dir, task)
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        manifest = _write_task(tmp, task, raw, image_size, max_train, max_test)
        (tmp / MANIFEST).write_text(json.dumps(manifest))
        try:
            tmp.rename(final)
        except OSError:
            if not (final / MANIFEST).is_file():  # not a concurrent build that finished first
                raise
        log.info("%s: built %s", task, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` of a built task folder."""
    return json.loads((Path(folder) / MANIFEST).read_text())


class _FashionTask:
    """Mixin: builds the task folder from ``data_dir`` (the torchvision root) and serves it as ``dataset_dir``.

    ``channels_a`` / ``channels_b`` / ``a_is_label_map`` are fixed by the task; None takes them, other values
    must agree (after ``direction``), since model configs read them from the data config.
    """

    task: str
    stored_channels: tuple[int, int]  # of the stored A and B domains
    label_map: bool = False  # stored A is a label map

    def __init__(self, *, image_size: int = 32, max_train: int | None = None, max_test: int | None = None,
                 direction: str = "AtoB", channels_a: int | None = None, channels_b: int | None = None,
                 a_is_label_map: bool | None = None, **kwargs: Any) -> None:
        _check("image_size", image_size, image_size in IMAGE_SIZES,
               f"the Fashion-MNIST tasks are built at {' or '.join(map(str, IMAGE_SIZES))} pixels")
        least = 2 if self.task == "labels2fashion_unpaired" else 1
        for key, value in (("max_train", max_train), ("max_test", max_test)):
            _check(key, value, value is None or value >= least, f"use null (all images) or at least {least}")
        want = self.stored_channels[::-1] if direction == "BtoA" else self.stored_channels
        for key, value, ok in (("channels_a", channels_a, want[0]), ("channels_b", channels_b, want[1])):
            _check(key, value, value in (None, ok),
                   f"{self.task} with direction={direction} has channels_a={want[0]}, channels_b={want[1]}; set those")
        if self.label_map:
            _check("a_is_label_map", a_is_label_map, a_is_label_map in (None, True),
                   f"{self.task}'s A images are label maps and must be resized with nearest-neighbour; set it to true")
        super().__init__(image_size=image_size, direction=direction, channels_a=want[0], channels_b=want[1],
                         a_is_label_map=self.label_map if a_is_label_map is None else a_is_label_map, **kwargs)
        self.max_train, self.max_test = max_train, max_test
        self.name = self.task
        self._built: Path | None = None

    @property
    def dataset_dir(self) -> Path:
        if self._built is None:
            self._built = build_fashion_task(
                self.task, data_dir=self.data_dir, cache_dir=self.cache_dir, image_size=self.image_size,
                max_train=self.max_train, max_test=self.max_test,
            )
        return self._built


class Edges2FashionDataModule(_FashionTask, AlignedDataModule):
    """edges2fashion (A: Canny edges, 1 channel; B: photo, 1 channel); see the module docstring and
    :class:`~gan_lightning.data.translation.AlignedDataModule`. ``data_dir`` is the torchvision root."""

    task, stored_channels = "edges2fashion", (1, 1)


class Labels2FashionDataModule(_FashionTask, AlignedDataModule):
    """labels2fashion (A: palette label map, 3 channels, nearest resize; B: photo, 1 channel); decode batches of A
    with :func:`decode_label_map`. See the module docstring; ``data_dir`` is the torchvision root."""

    task, stored_channels, label_map = "labels2fashion", (3, 1), True
    num_label_ids = NUM_LABEL_IDS


class Sneaker2BootDataModule(_FashionTask, UnalignedDataModule):
    """sneaker2boot (A: Sneakers, B: Ankle boots, 1 channel each); see the module docstring and
    :class:`~gan_lightning.data.translation.UnalignedDataModule`. ``data_dir`` is the torchvision root."""

    task, stored_channels = "sneaker2boot", (1, 1)


class Labels2FashionUnpairedDataModule(_FashionTask, UnalignedDataModule):
    """labels2fashion_unpaired (A: label maps, 3 channels; B: photos of other items, 1 channel); see the module
    docstring. ``data_dir`` is the torchvision root."""

    task, stored_channels, label_map = "labels2fashion_unpaired", (3, 1), True
    num_label_ids = NUM_LABEL_IDS
