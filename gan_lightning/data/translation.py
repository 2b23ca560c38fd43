"""Image-to-image translation data: pix2pix's aligned A|B files (Isola et al. 2017) and CycleGAN's unaligned
trainA / trainB folders (Zhu et al. 2017).

Batches are dicts ``{"A": x_a, "B": x_b}``: float32 ``(N, channels_a, H, W)`` and ``(N, channels_b, H, W)`` in
``[-1, 1]`` with ``H = W = image_size``, the keys naming the domains *after* ``direction`` (``"BtoA"`` swaps
them), so a model always translates ``batch["A"]`` into ``batch["B"]``. The train loader yields
``batch_size * batches_per_step`` pairs per batch, like the GAN datamodules.

Augmentation (Isola 2017, sec. 6.2 and appendix 6.2: "random jitter ... by resizing the 256x256 input images to
286x286 and then randomly cropping back to size 256x256", plus mirroring; the official code's
``resize_and_crop`` + flip): resize to ``load_size`` (default ``round(image_size * 286 / 256)``), random crop
``image_size``, horizontal flip with probability 0.5. An aligned pair shares one crop and one flip; in unaligned
data each domain draws its own. Test splits are only resized to ``image_size``, with no randomness.

Resumable randomness: every random choice of a train item (crop offsets, flip, and for unaligned data the B
partner) comes from a ``torch.Generator`` seeded by ``(seed, epoch, index)`` through
``numpy.random.SeedSequence``. The sampler yields ``(epoch, index)`` keys (:class:`EpochKeyedSampler`, the base
class's :class:`ResumableRandomSampler` with the epoch attached), so an item is a pure function of its key: no
global or per-worker RNG is involved, ``num_workers=0`` and ``num_workers=2`` give identical batches, and a run
resumed mid-epoch sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from gan_lightning.data.base import DataNotFoundError, GANDataModule, _check
from gan_lightning.data.image_folder import IMAGE_EXTENSIONS, ON_CORRUPT, open_image, readable_images
from gan_lightning.data.sampler import ResumableRandomSampler

DIRECTIONS = ("AtoB", "BtoA")


def default_load_size(image_size: int) -> int:
    """pix2pix's jitter ratio 286 / 256 applied to ``image_size`` (32 -> 36, 64 -> 72, 256 -> 286)."""
    return round(image_size * 286 / 256)


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The generator of all random choices of train item ``index`` in ``epoch``.

    SeedSequence mixes the three integers, so neighbouring seeds / epochs / indices get unrelated streams.
    """
    state = np.random.SeedSequence([seed % 2**64, epoch, index]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def image_files(folder: Path) -> list[Path]:
    """The images directly in ``folder`` (not recursive), sorted by name; [] if it is not a directory."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


class EpochKeyedSampler(ResumableRandomSampler):
    """:class:`ResumableRandomSampler` yielding ``(epoch, index)`` keys, so datasets can seed per-item randomness.

    The epoch is read when iteration starts, together with the order, so the key always matches the permutation
    it came from (workers receive the keys from the main process).
    """

    @classmethod
    def from_sampler(cls, sampler: ResumableRandomSampler) -> EpochKeyedSampler:
        keyed = cls(sampler.n, seed=sampler.seed, shuffle=sampler.shuffle)
        keyed.__dict__.update(sampler.__dict__)  # epoch and the pending one-shot resume
        return keyed

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        epoch = self.epoch
        return ((epoch, i) for i in super().__iter__())


class PairTransform:
    """uint8 PIL image -> float32 ``(C, S, S)`` in ``[-1, 1]``; jitter / flip parameters are passed in.

    ``label_map`` images are resized with nearest-neighbour (``NEAREST_EXACT``, which samples pixel centres like
    the bicubic resize of the photos), so every pixel keeps an exact palette colour; others with antialiased
    bicubic, as the official pix2pix code.
    """

    def __init__(self, image_size: int, load_size: int, jitter: bool, flip: bool) -> None:
        self.image_size, self.load_size, self.jitter, self.flip = image_size, load_size, jitter, flip

    def draw(self, generator: torch.Generator) -> tuple[int, int, bool]:
        """``(top, left, flip)`` of one random jitter; always draws the same numbers, used or not."""
        top, left = torch.randint(0, self.load_size - self.image_size + 1, (2,), generator=generator).tolist()
        flip = bool(torch.rand((), generator=generator) < 0.5)
        return top, left, flip

    def __call__(self, img: Image.Image, mode: str, label_map: bool, params: tuple[int, int, bool] | None) -> Tensor:
        x = F.pil_to_tensor(img.convert(mode))
        interpolation = InterpolationMode.NEAREST_EXACT if label_map else InterpolationMode.BICUBIC
        s = self.image_size
        if params is not None and self.jitter:
            x = self._resize(x, self.load_size, interpolation)
            x = F.crop(x, params[0], params[1], s, s)
        else:
            x = self._resize(x, s, interpolation)
        if params is not None and self.flip and params[2]:
            x = F.horizontal_flip(x)
        return x.to(torch.float32) / 127.5 - 1.0

    @staticmethod
    def _resize(x: Tensor, size: int, interpolation: InterpolationMode) -> Tensor:
        if tuple(x.shape[-2:]) == (size, size):
            return x  # keep the stored pixels exactly (binary edges stay binary)
        antialias = interpolation != InterpolationMode.NEAREST_EXACT
        return F.resize(x, [size, size], interpolation=interpolation, antialias=antialias)


class _PairDataset(Dataset):
    """Shared key handling: train items take ``(epoch, index)`` keys (a plain index means epoch 0)."""

    def __init__(self, transform: PairTransform, train: bool, seed: int, modes: tuple[str, str],
                 label_maps: tuple[bool, bool]) -> None:
        self.transform, self.train, self.seed = transform, train, seed
        self.modes, self.label_maps = modes, label_maps  # per batch key A, B

    def _key(self, key: int | tuple[int, int]) -> tuple[int, int]:
        return (int(key[0]), int(key[1])) if isinstance(key, (tuple, list)) else (0, int(key))

    def _load(self, path: Path) -> Image.Image:
        return open_image(path)


def check_aligned_size(path: Path, width: int, height: int) -> None:
    """Raise ValueError unless an aligned file holds two square halves (width = 2 x height)."""
    if width != 2 * height:
        raise ValueError(
            f"{path} is {width}x{height} (width x height), but an aligned (pix2pix) image holds A and B side by side, "
            f"so its width must be twice its height (e.g. 512x256). Fix: combine the pairs side by side (A left, B "
            "right) as pix2pix's datasets/combine_A_and_B.py does, or use data=unaligned for separate A and B folders."
        )


class AlignedPairs(_PairDataset):
    """Items ``{"A": x_a, "B": x_b}`` cut from A|B files (A left half); ``swap`` implements ``direction="BtoA"``."""

    def __init__(self, files: list[Path], *, swap: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files, self.swap = files, swap

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        epoch, index = self._key(key)
        img = self._load(self.files[index])
        w, h = img.size
        check_aligned_size(self.files[index], w, h)
        halves = [img.crop((0, 0, h, h)), img.crop((h, 0, w, h))]  # stored A, stored B
        if self.swap:
            halves.reverse()
        params = self.transform.draw(item_generator(self.seed, epoch, index)) if self.train else None
        return {key: self.transform(x, self.modes[i], self.label_maps[i], params)
                for i, (key, x) in enumerate(zip("AB", halves))}


class UnalignedPairs(_PairDataset):
    """Items ``{"A": x_a, "B": x_b}`` from two unrelated file lists (already swapped for ``direction``).

    Train (as CycleGAN's unaligned dataset): length ``max(len A, len B)``, A = ``files_a[index % len A]``, B a file
    drawn uniformly with the item's generator (so it depends only on ``(seed, epoch, index)``), each domain with
    its own jitter. Test: length ``len A``, B = ``files_b[index % len B]``, no randomness.
    """

    def __init__(self, files_a: list[Path], files_b: list[Path], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files_a, self.files_b = files_a, files_b

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b)) if self.train else len(self.files_a)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        epoch, index = self._key(key)
        path_a = self.files_a[index % len(self.files_a)]
        if not self.train:
            path_b = self.files_b[index % len(self.files_b)]
            params_a = params_b = None
        else:
            g = item_generator(self.seed, epoch, index)
            path_b = self.files_b[int(torch.randint(len(self.files_b), (), generator=g))]
            params_a, params_b = self.transform.draw(g), self.transform.draw(g)
        return {
            "A": self.transform(self._load(path_a), self.modes[0], self.label_maps[0], params_a),
            "B": self.transform(self._load(path_b), self.modes[1], self.label_maps[1], params_b),
        }


class TranslationDataModule(GANDataModule):
    """Shared options of :class:`AlignedDataModule` and :class:`UnalignedDataModule` (see the module docstring).

    Args:
        direction: ``"AtoB"`` (batch A = stored A) or ``"BtoA"`` (the stored domains swapped).
        channels_a, channels_b: channels of ``batch["A"]`` and ``batch["B"]`` (after ``direction``); 1 converts
            with PIL ``"L"``, 3 with ``"RGB"``.
        jitter: resize to ``load_size`` then random-crop ``image_size`` (train only).
        flip: random horizontal flip with probability 0.5 (train only).
        load_size: jitter resize; None means ``round(image_size * 286 / 256)``.
        a_is_label_map: the *stored* A domain (left halves / ``trainA``, whichever batch key ``direction`` gives
            it) is a colour-coded label map: resized with nearest-neighbour so its colours stay exact.
        on_corrupt: ``error`` (an unreadable file stops the run, naming it) or ``skip`` (such files are left out
            and listed in a warning).
        **kwargs: as for :class:`GANDataModule` (``data_dir``, ``image_size``, ``batch_size``, ``seed``, ...).

    Attributes: ``name``, ``channels_a``, ``channels_b``, ``num_classes = None``, ``train_set``, ``test_set``.
    """

    num_classes = None
    supports_on_device = False  # per-item jitter, flips and B partners are drawn on the CPU
    layout: str  # the expected layout, for error messages

    def __init__(
        self,
        *,
        direction: str = "AtoB",
        channels_a: int = 3,
        channels_b: int = 3,
        jitter: bool = True,
        flip: bool = True,
        load_size: int | None = None,
        a_is_label_map: bool = False,
        on_corrupt: str = "error",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check("on_corrupt", on_corrupt, on_corrupt in ON_CORRUPT, f"use one of {ON_CORRUPT}")
        self.on_corrupt = on_corrupt
        _check("direction", direction, direction in DIRECTIONS, "use 'AtoB' or 'BtoA'")
        _check("channels_a", channels_a, channels_a in (1, 3), "use 1 (grayscale) or 3 (RGB)")
        _check("channels_b", channels_b, channels_b in (1, 3), "use 1 (grayscale) or 3 (RGB)")
        load_size = default_load_size(self.image_size) if load_size is None else int(load_size)
        _check("load_size", load_size, load_size >= self.image_size,
               f"the jitter crops image_size={self.image_size} out of it: use at least that, or null (286/256 of it)")
        self.direction, self.channels_a, self.channels_b = direction, int(channels_a), int(channels_b)
        self.jitter, self.flip, self.load_size = bool(jitter), bool(flip), load_size
        self.a_is_label_map = bool(a_is_label_map)
        self.name = f"{type(self).__name__.removesuffix('DataModule').lower()}_{Path(self.data_dir).name}"

    @property
    def dataset_dir(self) -> Path:
        """The folder in the translation layout (``data_dir`` here; built from raw data in subclasses)."""
        return Path(self.data_dir).expanduser().resolve()

    def prepare_data(self) -> None:
        self.setup()  # fail before training when the layout is wrong

    def _dataset_kwargs(self, train: bool) -> dict[str, Any]:
        # Per batch key: the stored A domain is batch "A" for AtoB and batch "B" for BtoA.
        label_maps = (self.a_is_label_map, False) if self.direction == "AtoB" else (False, self.a_is_label_map)
        modes = tuple("L" if c == 1 else "RGB" for c in (self.channels_a, self.channels_b))
        transform = PairTransform(self.image_size, self.load_size, self.jitter, self.flip)
        return dict(transform=transform, train=train, seed=self.seed, modes=modes, label_maps=label_maps)

    def _missing(self, root: Path, what: str) -> DataNotFoundError:
        return DataNotFoundError(
            f"{type(self).__name__}: {root} {what}. Expected layout: {self.layout}. Fix: set "
            "`data.data_dir=/abs/path/to/dataset` to a folder in that layout (paths.data_dir also reads the env var "
            "GAN_DATA_DIR)."
        )

    def train_dataloader(self) -> DataLoader:
        # The base loader carries the sampler's epoch and resume position; only the sampler is swapped for the keyed one.
        base = super().train_dataloader()
        self._train_sampler = EpochKeyedSampler.from_sampler(base.sampler)
        return DataLoader(
            base.dataset, batch_size=base.batch_size, sampler=self._train_sampler,
            drop_last=base.drop_last, num_workers=base.num_workers, pin_memory=base.pin_memory,
            persistent_workers=base.persistent_workers, worker_init_fn=base.worker_init_fn, generator=base.generator,
        )


class AlignedDataModule(TranslationDataModule):
    """pix2pix's released format: ``<data_dir>/{train,val,test}/*.jpg|png``, each image an A|B pair side by side
    (A left, B right, width = 2 x height). The test set is ``test/`` if it has images, else ``val/``.

    A pair shares one random crop and flip. Args and batches: see :class:`TranslationDataModule`.

    Raises:
        DataNotFoundError: ``data_dir`` missing, or no images in ``train/`` or in both ``test/`` and ``val/``.
        ValueError: an image whose width is not twice its height (the first file of each split is checked at
            ``setup``, every file when it is loaded), plus the base-class checks.
    """

    test_split: str | None = None  # "test" or "val", after setup
    layout = ("<data_dir>/train/*.jpg|png and <data_dir>/test/ (or val/), each image an A|B pair side by side "
              "(A left, B right, width = 2 x height)")

    def splits(self) -> tuple[list[Path], list[Path], str]:
        """``(train files, test files, test split name)``; checks the layout."""
        root = self.dataset_dir
        if not root.is_dir():
            raise self._missing(root, "does not exist")
        train = readable_images(image_files(root / "train"), self.on_corrupt)
        if not train:
            raise self._missing(root, "has no train/ folder with images (.png, .jpg, ...)")
        test_split = next((s for s in ("test", "val") if image_files(root / s)), None)
        if test_split is None:
            raise self._missing(root, "has neither a test/ nor a val/ folder with images")
        test = readable_images(image_files(root / test_split), self.on_corrupt)
        for path in (train[0], test[0]):
            check_aligned_size(path, *open_image(path).size)
        return train, test, test_split

    def build_datasets(self) -> tuple[Dataset, Dataset]:
        train, test, self.test_split = self.splits()
        swap = self.direction == "BtoA"
        return (AlignedPairs(train, swap=swap, **self._dataset_kwargs(True)),
                AlignedPairs(test, swap=swap, **self._dataset_kwargs(False)))


class UnalignedDataModule(TranslationDataModule):
    """CycleGAN's format: ``<data_dir>/{trainA,trainB,testA,testB}/*.jpg|png``, unpaired images of two domains.

    Train items pair each A image (``index % len A``, over ``max(len A, len B)`` items per epoch) with a B image
    drawn from ``(seed, epoch, index)``; test items pair ``A_i`` with ``B_(i mod len B)``. ``direction="BtoA"``
    swaps the folders. Args and batches: see :class:`TranslationDataModule`.

    Raises:
        DataNotFoundError: ``data_dir`` missing or any of the four folders missing / without images.
    """

    layout = "<data_dir>/trainA/, trainB/, testA/, testB/, each holding images (.png, .jpg, ...) of one domain"

    def splits(self) -> dict[str, list[Path]]:
        """Files of ``trainA``, ``trainB``, ``testA``, ``testB`` (as stored, before ``direction``); checks the layout."""
        root = self.dataset_dir
        if not root.is_dir():
            raise self._missing(root, "does not exist")
        files = {name: readable_images(image_files(root / name), self.on_corrupt)
                 for name in ("trainA", "trainB", "testA", "testB")}
        missing = [f"{name}/" for name, found in files.items() if not found]
        if missing:
            raise self._missing(root, f"lacks images in {', '.join(missing)}")
        return files

    def build_datasets(self) -> tuple[Dataset, Dataset]:
        files = self.splits()
        a, b = ("B", "A") if self.direction == "BtoA" else ("A", "B")
        return (UnalignedPairs(files[f"train{a}"], files[f"train{b}"], **self._dataset_kwargs(True)),
                UnalignedPairs(files[f"test{a}"], files[f"test{b}"], **self._dataset_kwargs(False)))
