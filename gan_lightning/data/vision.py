"""torchvision datamodules: MNIST, Fashion-MNIST, CIFAR-10 (downloaded or read from a local copy)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets, transforms
from torchvision.transforms.v2 import functional as TF

from gan_lightning.data.base import DataNotFoundError, GANDataModule, _check, is_writable
from gan_lightning.data.on_device import from_uint8

# data.on_device=auto keeps a split in memory up to this size as uint8 (MNIST at 128 px: 0.98 GB).
ON_DEVICE_MAX_BYTES = 2**30

log = logging.getLogger(__name__)

_IDX_FILES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
)
_CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


def resize_uint8(images: Tensor, size: int) -> Tensor:
    """uint8 ``(C, H, W)`` or ``(N, C, H, W)`` -> uint8 ``(..., C, size, size)``: bilinear with antialiasing
    (torchvision's uint8 kernel). A stack gives each image the values it gives that image alone, so the loader
    (per item) and ``data.on_device`` (the whole split at once) see the same pixels; enlarging, they equal PIL's
    ``Resize`` too (MNIST at 32 and 64 px: identical to the byte)."""
    return TF.resize(images, [size, size], antialias=True)


class _Resize:
    """Picklable (for loader workers) ``resize_uint8`` to ``size`` of one uint8 image (C, H, W)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: Tensor) -> Tensor:
        return resize_uint8(image, self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, bilinear, antialias)"


def _idx_layout(folder: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """(archives, extracted files, expected-files text) of an MNIST-style dataset."""
    archives = tuple(f"{folder}/raw/{f}" for f in _IDX_FILES)
    return archives, tuple(p.removesuffix(".gz") for p in archives), ", ".join(archives)


class TorchvisionDataModule(GANDataModule):
    """Shared implementation, parameterised by the class attributes below.

    Data layout under ``data_dir`` is torchvision's: ``MNIST/raw/*.gz``, ``FashionMNIST/raw/*.gz``,
    ``cifar-10-python.tar.gz`` or ``cifar-10-batches-py/``. torchvision unpacks archives next to them,
    so if that folder is read-only the archives are first copied to ``<cache_dir>/data``.

    Batches: images float32 ``(N, C, image_size, image_size)`` in ``[-1, 1]``, labels int64 ``(N,)``.
    ``image_size`` equal to the native size (28 MNIST, 32 CIFAR-10) keeps the images as they are;
    any other size resizes them (bilinear, antialiased: :func:`resize_uint8`).

    Raises:
        ValueError: ``channels`` given and different from the dataset's (plus the base-class checks).
        DataNotFoundError: data missing and not downloadable, or data_dir read-only with no cache_dir.
    """

    dataset_cls: type[datasets.VisionDataset]
    native_size: int
    num_train: int  # images in the train split, for small_split
    archives: tuple[str, ...]  # relative to the root; with these present download=True goes offline
    extracted: tuple[str, ...]  # relative to the root; with these present nothing has to be written
    expected: str  # the files expected, for error messages

    def __init__(self, *, channels: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Accepted so configs can state it (model configs interpolate ${data.channels}); it must match.
        _check("channels", channels, channels in (None, self.channels),
               f"{self.name} images have {self.channels} channel(s); set data.channels={self.channels}")
        if self.image_size == self.native_size:
            norm = (0.5,) * self.channels
            self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(norm, norm)])
        else:  # the uint8 pixels resized as on_device resizes the split (resize_uint8), then to [-1, 1]
            self.transform = transforms.Compose([transforms.PILToTensor(), _Resize(self.image_size), from_uint8])

    def prepare_data(self) -> None:
        # Download / unpack on rank 0; building the datasets here is harmless (setup() would build the same)
        # and makes a missing dataset fail before training.
        self.setup()

    def build_datasets(self) -> tuple[Dataset, Dataset]:
        root = self._resolve_root()
        return self._load(root, train=True), self._load(root, train=False)

    @property
    def small_split(self) -> bool:
        """What ``on_device="auto"`` resolves to: True while the train split at ``image_size`` takes at most
        ``ON_DEVICE_MAX_BYTES`` (1 GiB) as uint8: MNIST and Fashion-MNIST up to 128 px, CIFAR-10 up to 64 px."""
        return self.num_train * self.channels * self.image_size**2 <= ON_DEVICE_MAX_BYTES

    def train_tensors(self) -> tuple[Tensor, Tensor | None]:
        return self.split_tensors(self.train_set)

    def split_tensors(self, dataset: Dataset) -> tuple[Tensor, Tensor]:
        """uint8 ``(N, C, H, W)`` images and int64 ``(N,)`` labels of a torchvision split (for ``on_device``): its raw
        arrays, resized at once by :func:`resize_uint8` (the loader's resize) when ``image_size`` is not the native
        size (MNIST at 32 px: about a second)."""
        images = torch.as_tensor(dataset.data)  # MNIST-style: (N, H, W) uint8 tensor; CIFAR-10: (N, H, W, C) array
        images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
        if self.image_size != self.native_size:
            images = torch.cat([resize_uint8(chunk, self.image_size) for chunk in images.split(4096)])
        return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.int64)

    def _load(self, root: Path, train: bool) -> Dataset:
        try:
            return self.dataset_cls(str(root), train=train, download=True, transform=self.transform)
        except Exception as e:  # offline (URLError / RuntimeError), corrupt archive, permissions...
            where = Path(self.data_dir).expanduser().resolve()
            copy = "" if root == where else f" (working copy: {root})"
            cause = (str(e).strip().splitlines() or [""])[0][:200]  # details stay in the chained traceback
            raise DataNotFoundError(
                f"{self.dataset_cls.__name__} not found in {where}{copy} and it could not be downloaded "
                f"({type(e).__name__}: {cause}). Expected there: {self.expected}. Fix: put these files there, "
                "or point to a folder that has them with `paths.data_dir=/abs/path` (or the env var GAN_DATA_DIR)."
            ) from e

    def _resolve_root(self) -> Path:
        """The root torchvision reads: ``data_dir``, or ``<cache_dir>/data`` when ``data_dir`` is read-only."""
        root = Path(self.data_dir).expanduser().resolve()
        if all((root / p).exists() for p in self.extracted) or is_writable((root / self.archives[0]).parent):
            return root
        if self.cache_dir is None:
            raise DataNotFoundError(
                f"{root} is read-only, so {self.dataset_cls.__name__} cannot be unpacked or downloaded there, and "
                f"no cache directory is set. Expected in {root}: {self.expected}. Fix: set "
                "`paths.cache_dir=/abs/writable/path` (or the env var GAN_CACHE_DIR) and the files are copied there, "
                "or `paths.data_dir=...` (or GAN_DATA_DIR) to a writable folder holding them."
            )
        cache = Path(self.cache_dir).expanduser().resolve() / "data"
        todo = [p for p in self.archives if (root / p).is_file()]
        if todo and not all((cache / p).exists() for p in self.extracted):
            for p in todo:
                src, dst = root / p, cache / p
                if not (dst.is_file() and dst.stat().st_size == src.stat().st_size):
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)  # copyfile: do not carry the read-only mode over
            log.info("%s: %s is read-only, copied %d file(s) to %s", self.name, root, len(todo), cache)
        return cache


class MNISTDataModule(TorchvisionDataModule):
    """MNIST digits: 60k train / 10k test, 1 channel, 28x28, 10 classes; see :class:`TorchvisionDataModule`."""

    dataset_cls, name, native_size, channels, num_classes = datasets.MNIST, "mnist", 28, 1, 10
    num_train = 60000
    archives, extracted, expected = _idx_layout("MNIST")


class FashionMNISTDataModule(TorchvisionDataModule):
    """Fashion-MNIST: 60k train / 10k test, 1 channel, 28x28, 10 classes; see :class:`TorchvisionDataModule`."""

    dataset_cls, name, native_size, channels, num_classes = datasets.FashionMNIST, "fashion_mnist", 28, 1, 10
    num_train = 60000
    archives, extracted, expected = _idx_layout("FashionMNIST")


class CIFAR10DataModule(TorchvisionDataModule):
    """CIFAR-10: 50k train / 10k test, 3 channels, 32x32, 10 classes; see :class:`TorchvisionDataModule`."""

    dataset_cls, name, native_size, channels, num_classes = datasets.CIFAR10, "cifar10", 32, 3, 10
    num_train = 50000
    archives = ("cifar-10-python.tar.gz",)
    extracted = tuple(f"cifar-10-batches-py/{f}" for f in _CIFAR_BATCHES)
    expected = "cifar-10-python.tar.gz or cifar-10-batches-py/"
