"""Semi-supervised MNIST / Fashion-MNIST: a small balanced labeled subset, the rest of the train split unlabeled.

Used by SGAN (Odena 2016; Salimans et al. 2016, sec. 5), CatGAN (Springenberg 2016) and their supervised
baselines. Train batches are dicts::

    {"labeled": (x_l, y_l), "unlabeled": x_u}

with ``x_l`` float32 (B, C, H, W) in [-1, 1], ``y_l`` int64 (B,), and ``x_u`` float32
(batches_per_step * B, C, H, W) in [-1, 1] carrying no labels at all: the unlabeled dataset yields images only,
so the labels of the unlabeled images cannot reach a loss. With ``generator_stream`` the dict also holds
``"unlabeled_g"``: B more unlabeled images from a second, independently shuffled pass over the same images, the
batch the generator's feature matching sees in the authors' code for Salimans et al. 2016.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from gan_lightning.data.base import _check, split_steps
from gan_lightning.data.on_device import DeviceBatches
from gan_lightning.data.sampler import ResumableRandomSampler
from gan_lightning.data.vision import FashionMNISTDataModule, MNISTDataModule, TorchvisionDataModule

# Offset between data.seed and the seed of the labeled stream's order, so the two streams are not
# shuffled by the same generator state.
_RANK_SEED_STRIDE = 1 << 32  # more passes than any run makes: ranks never share a permutation seed
_LABELED_ORDER_SEED_OFFSET = 1_000_003
_GENERATOR_STREAM_SEED_OFFSET = 2_000_003


def balanced_labeled_indices(targets: Tensor, num_labeled: int, num_classes: int, labeled_seed: int) -> Tensor:
    """Indices (sorted, int64, length ``num_labeled``) of ``num_labeled / num_classes`` random images per class.

    Drawn with ``torch.Generator().manual_seed(labeled_seed)`` only (never the global RNG): the same seed gives
    the same subset on every machine and run.

    Args:
        targets: int64 (N,) class labels of the whole train split.
        num_labeled: size of the subset (a positive multiple of ``num_classes``).
        num_classes: number of classes K.
        labeled_seed: seed of the draw.

    Raises:
        ValueError: naming ``data.num_labeled`` if it is not a positive multiple of ``num_classes``, or a class
            has fewer than ``num_labeled / num_classes`` images (or exactly that many: nothing would stay unlabeled).
    """
    _check("num_labeled", num_labeled, num_labeled >= num_classes and num_labeled % num_classes == 0,
           f"use a positive multiple of the {num_classes} classes so the subset is balanced, e.g. {10 * num_classes}")
    per_class = num_labeled // num_classes
    generator = torch.Generator().manual_seed(int(labeled_seed))
    chosen = []
    for c in range(num_classes):
        members = torch.nonzero(targets == c).flatten()
        _check("num_labeled", num_labeled, per_class < len(members),
               f"{per_class} labeled images per class, but class {c} has only {len(members)} train images "
               f"(and some must stay unlabeled); use at most {num_classes * (len(members) - 1)}")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def split_semi_supervised(batch: Any, n_critic: int) -> list[dict[str, Any]]:
    """The ``n_critic`` discriminator minibatches of one semi-supervised batch: the unlabeled images split into
    n_critic disjoint chunks, each paired with the batch's labeled minibatch (the labeled stream cycles anyway).

    Raises:
        ValueError: the batch is not ``{"labeled": (x, y), "unlabeled": x}``, or its unlabeled images cannot be
            split evenly into n_critic chunks.
    """
    if not (isinstance(batch, dict) and {"labeled", "unlabeled"} <= set(batch)):
        raise ValueError(f"Expected a batch {{'labeled': (x, y), 'unlabeled': x}}, got {type(batch).__name__}: use a "
                         "semi-supervised datamodule, data=mnist_semi or data=fashion_mnist_semi.")
    labeled = tuple(batch["labeled"])
    return [{"labeled": labeled, "unlabeled": chunk}
            for (chunk,) in split_steps((batch["unlabeled"],), n_critic, "unlabeled images")]


class UnlabeledImages(Dataset):
    """Images only (no label) of ``dataset[indices]``: item ``i`` is ``dataset[indices[i]][0]``, (C, H, W)."""

    def __init__(self, dataset: Dataset, indices: Tensor) -> None:
        self.dataset, self.indices = dataset, indices.tolist()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tensor:
        image, _ = self.dataset[self.indices[i]]
        return image


class LabeledStream:
    """An endless, reproducible stream over a small labeled set: pass p is a permutation seeded by ``seed + p``.

    Batch ``g`` (a global batch counter) holds stream positions ``[g * B, (g + 1) * B)``, so the labeled batch of
    any train step is a pure function of ``(seed, g)``: a resumed run needs no extra saved state.
    """

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, seed: int) -> None:
        self.images, self.labels, self.batch_size, self.seed = images, labels, int(batch_size), int(seed)
        self._cached: tuple[int, Tensor] | None = None

    def _order(self, p: int) -> Tensor:
        if self._cached is None or self._cached[0] != p:
            generator = torch.Generator().manual_seed(self.seed + _LABELED_ORDER_SEED_OFFSET + p)
            self._cached = (p, torch.randperm(len(self.labels), generator=generator))
        return self._cached[1]

    def indices(self, g: int) -> Tensor:
        """Indices into the labeled set of global batch ``g`` (int64, length B)."""
        n, out, pos = len(self.labels), [], g * self.batch_size
        while len(out) < self.batch_size:
            p, offset = divmod(pos, n)
            take = self._order(p)[offset : offset + self.batch_size - len(out)].tolist()
            out += take
            pos += len(take)
        return torch.tensor(out)

    def batch(self, g: int) -> tuple[Tensor, Tensor]:
        """``(x_l, y_l)`` of global batch ``g``: (B, C, H, W) in [-1, 1] and int64 (B,)."""
        idx = self.indices(g)
        return self.images[idx], self.labels[idx]


class SemiSupervisedLoader:
    """The train "loader": each batch of the unlabeled DataLoader zipped with a batch of the labeled stream.

    A small iterable rather than Lightning's ``CombinedLoader``: the unlabeled stream keeps the base class's
    :class:`ResumableRandomSampler` (exact mid-epoch resume), and the labeled batch is indexed by the global
    batch number ``epoch * len(self) + i``, which a ``CombinedLoader`` cycling a second DataLoader would neither
    know nor restore. Lightning finds the sampler through ``self.sampler`` and calls its ``set_epoch``.
    """

    def __init__(self, unlabeled: DataLoader | DeviceBatches, labeled: LabeledStream,
                 resume: tuple[int, int] | None = None,
                 generator_stream: DataLoader | DeviceBatches | None = None) -> None:
        self.unlabeled, self.labeled, self.generator_stream = unlabeled, labeled, generator_stream
        self.sampler: ResumableRandomSampler = unlabeled.sampler
        self._resume = resume  # (epoch, batches already done in it), one-shot like the sampler's

    def __len__(self) -> int:
        return len(self.unlabeled)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._batches()

    def _batches(self) -> Iterator[dict[str, Any]]:
        # A generator: the epoch is read at the first next(), after Lightning's set_epoch.
        epoch, start = self.sampler.epoch, 0
        if self._resume is not None:
            if self._resume[0] == epoch:
                start = self._resume[1]
            self._resume = None
        if self.generator_stream is None:
            for i, x_u in enumerate(self.unlabeled, start=start):
                yield {"labeled": self.labeled.batch(epoch * len(self) + i), "unlabeled": x_u}
            return
        self.generator_stream.sampler.set_epoch(epoch)
        for i, (x_u, x_g) in enumerate(zip(self.unlabeled, self.generator_stream), start=start):
            yield {"labeled": self.labeled.batch(epoch * len(self) + i), "unlabeled": x_u, "unlabeled_g": x_g}


class SemiSupervisedDataModule(TorchvisionDataModule):
    """A torchvision datamodule split into ``num_labeled`` labeled train images and the unlabeled rest.

    The labeled subset has ``num_labeled / num_classes`` images per class, drawn with ``labeled_seed``
    (:func:`balanced_labeled_indices`); it is small, so it is kept as tensors (``labeled_images``,
    ``labeled_labels``) and cycled as an endless stream whose order depends on ``seed``. The other train images
    form :attr:`train_set`, an :class:`UnlabeledImages` dataset yielding images only. An epoch is one pass over
    the unlabeled images.

    Batches: ``{"labeled": (x_l, y_l), "unlabeled": x_u}``, x_l (B, C, H, W) in [-1, 1], y_l int64 (B,),
    x_u (batches_per_step * B, C, H, W) in [-1, 1], with B = ``batch_size``.

    Attributes (after ``setup``): ``train_set`` (unlabeled images), ``labeled_set`` (``Subset`` of
    ``(image, label)`` items), ``labeled_indices`` (into the full train split), ``labeled_images``,
    ``labeled_labels``, ``test_set`` (the real test split, ``(image, label)`` items); class attributes ``name``,
    ``channels``, ``num_classes`` as in the wrapped dataset's module; ``image_size``.

    Args:
        num_labeled: size of the labeled subset (Salimans et al. 2016 use 100 on MNIST).
        labeled_seed: seed of the choice of the labeled images (independent of ``seed``).
        generator_stream: also deliver ``"unlabeled_g"``, B images per batch from a second pass over the unlabeled
            images in its own order (seeded from ``seed``, resumed exactly with the first).
        **kwargs: as for :class:`TorchvisionDataModule`.

    Raises:
        ValueError: naming ``data.num_labeled`` if it is not a positive multiple of ``num_classes`` (at
            construction) or larger than the data allows (at ``setup``); ``data.generator_stream`` with
            ``batches_per_step`` > 1; the base-class checks.
        DataNotFoundError: from ``prepare_data()`` / ``setup()`` when the data is missing.
    """

    def __init__(self, *, num_labeled: int = 100, labeled_seed: int = 0, generator_stream: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check("generator_stream", generator_stream, not generator_stream or self.batches_per_step == 1,
               f"a second unlabeled stream needs one D minibatch per step (data.batches_per_step=1, model.n_critic=1), "
               f"got data.batches_per_step={self.batches_per_step}; or set data.generator_stream=false")
        self.generator_stream = bool(generator_stream)
        k = self.num_classes
        _check("num_labeled", num_labeled, num_labeled >= k and num_labeled % k == 0,
               f"use a positive multiple of the {k} classes so the subset is balanced, e.g. {10 * k}")
        self.num_labeled, self.labeled_seed = int(num_labeled), int(labeled_seed)
        self.labeled_set: Subset | None = None
        self.labeled_indices: Tensor | None = None
        self.labeled_images: Tensor | None = None
        self.labeled_labels: Tensor | None = None

    def build_datasets(self) -> tuple[Dataset, Dataset]:
        full, test = super().build_datasets()
        targets = torch.as_tensor(full.targets, dtype=torch.int64)
        labeled = balanced_labeled_indices(targets, self.num_labeled, self.num_classes, self.labeled_seed)
        mask = torch.ones(len(full), dtype=torch.bool)
        mask[labeled] = False
        self.labeled_indices = labeled
        self.labeled_set = Subset(full, labeled.tolist())
        items = [self.labeled_set[i] for i in range(len(self.labeled_set))]
        self.labeled_images = torch.stack([x for x, _ in items])
        self.labeled_labels = torch.tensor([int(y) for _, y in items], dtype=torch.int64)
        return UnlabeledImages(full, torch.nonzero(mask).flatten()), test

    def train_tensors(self) -> tuple[Tensor, None]:
        """The unlabeled train images as uint8 ``(N, C, H, W)`` (for ``on_device``); no labels."""
        images, _ = self.split_tensors(self.train_set.dataset)
        return images[torch.as_tensor(self.train_set.indices)], None

    def train_dataloader(self) -> SemiSupervisedLoader:
        resume = self._resume_state  # consumed by the base class; needed here for the labeled stream
        unlabeled = super().train_dataloader()
        start = None
        if resume and resume["epoch"] == unlabeled.sampler.epoch:  # else saved at an epoch's end: fresh epoch
            start = (resume["epoch"], resume["samples_done"] // self.loader_batch_size)
        # Under DDP each rank cycles the labeled set in its own order (the set is too small to shard).
        rank_seed = self.seed + _RANK_SEED_STRIDE * self.world_size_and_rank[1]
        device = self.train_device if self.on_device else torch.device("cpu")
        stream = LabeledStream(self.labeled_images.to(device), self.labeled_labels.to(device), self.batch_size,
                               rank_seed)
        second = None
        if self.generator_stream:
            sampler = unlabeled.sampler.twin(self.seed + _GENERATOR_STREAM_SEED_OFFSET)
            if self.on_device:
                second = DeviceBatches(unlabeled.images, None, sampler, self.batch_size, drop_last=True)
                return SemiSupervisedLoader(unlabeled, stream, start, second)
            second = DataLoader(self.train_set, batch_size=self.batch_size, sampler=sampler, drop_last=True,
                                num_workers=self.num_workers, pin_memory=self.pin_memory,
                                persistent_workers=self.num_workers > 0, worker_init_fn=self.worker_init_fn,
                                generator=torch.Generator().manual_seed(self.seed))
        return SemiSupervisedLoader(unlabeled, stream, start, second)


class SemiSupervisedMNISTDataModule(SemiSupervisedDataModule, MNISTDataModule):
    """MNIST with ``num_labeled`` labeled train images; see :class:`SemiSupervisedDataModule`."""


class SemiSupervisedFashionMNISTDataModule(SemiSupervisedDataModule, FashionMNISTDataModule):
    """Fashion-MNIST with ``num_labeled`` labeled train images; see :class:`SemiSupervisedDataModule`."""


SEMI_SUPERVISED_KEYS = ("num_labeled", "labeled_seed", "generator_stream")


def fully_labeled_config(data: dict[str, Any]) -> dict[str, Any]:
    """The config of the fully labeled datamodule behind a semi-supervised one (``data=mnist_semi`` ->
    :class:`~gan_lightning.data.vision.MNISTDataModule` with the same paths, size and seed), for what needs
    ``(image, label)`` batches of the whole train split, such as the domain classifier; other configs unchanged."""
    from hydra.utils import get_class

    cls = get_class(data["_target_"])
    if not issubclass(cls, SemiSupervisedDataModule):
        return data
    plain = next(c for c in cls.__mro__ if issubclass(c, TorchvisionDataModule)
                 and not issubclass(c, SemiSupervisedDataModule) and c is not TorchvisionDataModule)
    out = {k: v for k, v in data.items() if k not in SEMI_SUPERVISED_KEYS}
    return {**out, "_target_": f"{plain.__module__}.{plain.__qualname__}"}
