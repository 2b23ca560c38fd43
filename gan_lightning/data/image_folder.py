"""Datamodule for any folder of images (e.g. a CelebA or LSUN export), read recursively."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from pytorch_lightning.utilities import rank_zero_warn
from torch.utils.data import Dataset, Subset
from torchvision import transforms

from gan_lightning.data.base import DataNotFoundError, GANDataModule, _check

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
ON_CORRUPT = ("error", "skip")


class CorruptImageError(ValueError):
    """An image file that cannot be read; the message names the file(s) and the ``data.on_corrupt`` choice."""


def open_image(path: Path) -> Image.Image:
    """The decoded image at ``path``.

    Raises:
        CorruptImageError: the file is truncated, not an image or unreadable, naming ``path``.
    """
    try:
        with Image.open(path) as img:
            img.load()
            return img
    except (OSError, UnidentifiedImageError, SyntaxError) as e:  # PIL raises all three for broken files
        raise CorruptImageError(f"Cannot read image {path} ({type(e).__name__}: {e}). Fix or remove it, or set "
                                "data.on_corrupt=skip to leave such files out (they are listed as a warning).") from None


def readable_images(files: list[Path], on_corrupt: str) -> list[Path]:
    """``files`` minus those that cannot be read (``on_corrupt="skip"``: listed in a warning), or all of them
    unchecked (``"error"``: a broken file stops the run with its path when it is read).

    Raises:
        ValueError: an ``on_corrupt`` other than ``error`` / ``skip``.
    """
    _check("on_corrupt", on_corrupt, on_corrupt in ON_CORRUPT, f"use one of {ON_CORRUPT}")
    if on_corrupt == "error":
        return files
    bad = []
    for f in files:
        try:
            open_image(f)
        except CorruptImageError:
            bad.append(f)
    if bad:
        shown = ", ".join(str(b) for b in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        rank_zero_warn(f"Skipping {len(bad)} unreadable image file(s) (data.on_corrupt=skip): {shown}")
    return [f for f in files if f not in set(bad)]


class ImageFiles(Dataset):
    """``(transform(image), 0)`` for each file; the constant label keeps batches ``(images, labels)``."""

    def __init__(self, files: list[Path], mode: str, transform: Any) -> None:
        self.files, self.mode, self.transform = files, mode, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(open_image(self.files[i]).convert(self.mode)), 0


class ImageFolderDataModule(GANDataModule):
    """All images under ``data_dir`` (recursive; .png .jpg .jpeg .bmp .webp), unlabeled.

    Extra args: ``channels`` (1 = grayscale "L", 3 = "RGB"), ``test_fraction`` (share of files split off
    deterministically with ``seed`` as the test set; 0 means test set = train set), ``center_crop``
    (resize the short side then center-crop to a square; False squashes to ``image_size`` x ``image_size``),
    ``on_corrupt`` (``error``: an unreadable file stops the run naming it; ``skip``: such files are left out and
    listed in a warning).

    Batches: images float32 ``(N, channels, image_size, image_size)`` in ``[-1, 1]``, labels int64 zeros ``(N,)``.
    ``num_classes`` is None.

    Raises:
        ValueError: invalid ``channels`` / ``test_fraction`` / ``on_corrupt`` (and the base-class checks).
        CorruptImageError: reading an unreadable file with ``on_corrupt="error"``.
        DataNotFoundError: ``data_dir`` missing or without any image file (from ``setup()``).
    """

    num_classes = None

    def __init__(self, *, channels: int = 3, test_fraction: float = 0.0, center_crop: bool = True,
                 on_corrupt: str = "error", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check("on_corrupt", on_corrupt, on_corrupt in ON_CORRUPT, f"use one of {ON_CORRUPT}")
        self.on_corrupt = on_corrupt
        _check("channels", channels, channels in (1, 3), "use 1 (grayscale) or 3 (RGB)")
        _check("test_fraction", test_fraction, 0.0 <= test_fraction < 1.0, "use a fraction in [0, 1), e.g. 0.1")
        self.channels, self.test_fraction, self.center_crop = int(channels), float(test_fraction), center_crop
        self.name = f"image_folder_{Path(self.data_dir).name}"  # per folder, so cached statistics do not collide
        s, norm = self.image_size, (0.5,) * self.channels
        resize = [transforms.Resize(s), transforms.CenterCrop(s)] if center_crop else [transforms.Resize((s, s))]
        self.transform = transforms.Compose([*resize, transforms.ToTensor(), transforms.Normalize(norm, norm)])

    def prepare_data(self) -> None:
        self._files()  # fail before training if the folder is empty

    def _files(self) -> list[Path]:
        root = Path(self.data_dir).expanduser().resolve()
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()) if root.is_dir() else []
        if not files:
            state = "does not exist" if not root.exists() else "has no image files"
            raise DataNotFoundError(
                f"Image folder {root} {state}. Expected image files (searched recursively) with extensions "
                f"{', '.join(IMAGE_EXTENSIONS)}. Fix: set `data.data_dir=/abs/path/to/images` "
                "(default ${paths.data_dir}/images; paths.data_dir also reads the env var GAN_DATA_DIR)."
            )
        return files

    def build_datasets(self) -> tuple[Dataset, Dataset]:
        full = ImageFiles(readable_images(self._files(), self.on_corrupt), "L" if self.channels == 1 else "RGB",
                          self.transform)
        if self.test_fraction == 0 or len(full) < 2:
            return full, full
        n_test = min(max(round(len(full) * self.test_fraction), 1), len(full) - 1)
        perm = torch.randperm(len(full), generator=torch.Generator().manual_seed(self.seed)).tolist()
        return Subset(full, perm[n_test:]), Subset(full, perm[:n_test])
