"""Shared mechanics of every GAN datamodule: validation, loaders, bit-exact mid-epoch resume."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from gan_lightning.data.on_device import DeviceBatches, RowBatches, materialize
from gan_lightning.data.sampler import ResumableRandomSampler
from gan_lightning.utils.signals import SignalSafeWorkerInit


class DataNotFoundError(FileNotFoundError):
    """The dataset is missing (or unreadable) and could not be downloaded; raised before training.

    The message names the absolute directory searched, the files expected there and how to fix it.
    """


def _check(key: str, value: Any, ok: bool, fix: str) -> None:
    if not ok:
        raise ValueError(f"data.{key}={value!r} is invalid: {fix}")


def split_steps(parts: Sequence[Tensor], n_critic: int, what: str = "images") -> list[tuple[Tensor, ...]]:
    """Undo the loader's ``batch_size * batches_per_step`` rows: the ``n_critic`` disjoint D minibatches of one
    train batch (Goodfellow 2014 and Gulrajani 2017, Algorithm 1: each D step on its own real minibatch). The only
    place a batch is cut by ``model.n_critic`` (= ``data.batches_per_step``, see conf/base/data.yaml).

    Args:
        parts: tensors with the same number of rows N = n_critic * B, e.g. ``(images, labels)`` or ``(A, B)``.
        n_critic: D minibatches per batch (>= 1).
        what: what the rows are, for the error message.

    Returns:
        ``n_critic`` tuples; the i-th holds rows ``[i * B, (i + 1) * B)`` of every part, in the order of ``parts``.

    Raises:
        ValueError: N is not a multiple of n_critic.
    """
    n = parts[0].shape[0]
    if n % n_critic:
        raise ValueError(f"Batch of {n} {what} cannot be split into n_critic={n_critic} D minibatches; "
                         "set data.batches_per_step to model.n_critic and data.drop_last=true.")
    return list(zip(*(part.chunk(n_critic) for part in parts)))


def is_writable(path: str | Path) -> bool:
    """Whether files can be created in ``path`` (or in its nearest existing ancestor).

    Also honours the permission bits, because root ignores them in ``os.access`` and would
    otherwise write into a folder that is marked read-only for everyone (e.g. shared data).
    """
    p = Path(path).resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return os.access(p, os.W_OK | os.X_OK) and bool(stat.S_IMODE(p.stat().st_mode) & 0o222)


class GANDataModule(pl.LightningDataModule):
    """Base datamodule: subclasses implement :meth:`build_datasets`.

    Batches are ``(images, labels)``: images float32 ``(N, C, H, W)`` with ``H = W = image_size``
    and values in ``[-1, 1]``; labels int64 ``(N,)``.

    The train loader yields ``batch_size * batches_per_step`` images per batch, which the GAN
    module splits into ``batches_per_step`` (= ``n_critic``) disjoint discriminator minibatches
    with :func:`split_steps`.
    Its order comes from :class:`ResumableRandomSampler` and is saved in checkpoints through
    :meth:`state_dict`, so resuming mid-epoch continues with exactly the batches an
    uninterrupted run would have seen (single process).

    ``num_classes`` is None for unlabeled data (image folders, translation pairs), whose labels are placeholders;
    :attr:`labeled` says which.

    ``on_device=True`` keeps the train split on the training device as uint8 (:meth:`train_tensors`) and draws
    batches there by index (:class:`~gan_lightning.data.on_device.DeviceBatches`): the same batches in the same
    order, without workers or host-to-device copies. Datamodules whose items draw random augmentation on the CPU
    set ``supports_on_device = False``. ``"auto"`` (the default) means ``small_split``: True for the datasets
    known to be small (MNIST, Fashion-MNIST, CIFAR-10) while their train split takes at most 1 GiB as uint8 at
    ``image_size`` (resized once, as the loader resizes each item), on any device, where it measured faster than
    the worker DataLoader (docs/RESULTS.md); False for image folders.

    Raises:
        ValueError: ``image_size <= 0``, ``batch_size < 1`` or ``batches_per_step < 1``; ``on_device`` where
            ``supports_on_device`` is False; from
            :meth:`train_dataloader`, a training set smaller than one batch with ``drop_last`` (no step would run).
        DataNotFoundError: from ``prepare_data()`` / ``setup()`` when the data is missing.
    """

    name: str = "data"
    channels: int = 3
    num_classes: int | None = None
    supports_on_device: bool = True
    small_split: bool = False  # what on_device="auto" resolves to

    def __init__(
        self,
        *,
        data_dir: str,
        image_size: int,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        batches_per_step: int = 1,
        drop_last: bool = True,
        pin_memory: bool = False,
        cache_dir: str | None = None,
        on_device: bool | str = "auto",
    ) -> None:
        super().__init__()
        _check("image_size", image_size, image_size > 0, "use a positive size in pixels, e.g. 28, 32 or 64")
        _check("batch_size", batch_size, batch_size >= 1, "use a batch size of at least 1, e.g. 64")
        _check(
            "batches_per_step", batches_per_step, batches_per_step >= 1,
            "it is the number of D minibatches per step (model.n_critic) and must be >= 1",
        )
        _check("num_workers", num_workers, num_workers >= 0, "use 0 (main process) or a positive worker count")
        _check("on_device", on_device, on_device in (True, False, "auto"), "use true, false or auto")
        _check("on_device", on_device, on_device is not True or self.supports_on_device,
               f"{type(self).__name__} draws random augmentation per item on the CPU, which a split kept on the "
               "device would lose; set data.on_device=false (or auto)")
        self._device_tensors: tuple[Tensor, Tensor | None] | None = None
        self.data_dir = str(data_dir)
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.image_size = int(image_size)
        self.on_device = self.small_split and self.supports_on_device if on_device == "auto" else bool(on_device)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.batches_per_step = int(batches_per_step)
        self.drop_last = drop_last
        self.pin_memory = pin_memory
        self.train_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self._resume_state: dict[str, int] | None = None
        self._train_sampler: ResumableRandomSampler | None = None  # the one Lightning calls set_epoch on

    @property
    def loader_batch_size(self) -> int:
        """Images per train batch: ``batch_size * batches_per_step``."""
        return self.batch_size * self.batches_per_step

    @property
    def labeled(self) -> bool:
        """Whether batches carry real class labels (``num_classes`` set); False for unlabeled image folders and
        translation pairs."""
        return self.num_classes is not None

    @property
    def world_size_and_rank(self) -> tuple[int, int]:
        """``(world_size, global_rank)`` of the attached trainer; ``(1, 0)`` without one."""
        trainer = self.trainer
        return int(getattr(trainer, "world_size", 1)), int(getattr(trainer, "global_rank", 0))

    @property
    def worker_init_fn(self) -> SignalSafeWorkerInit:
        """The loaders' ``worker_init_fn``: workers ignore the stop signals the training process handles (it saves
        at the batch end) and are seeded as Lightning's ``seed_everything(workers=True)`` would."""
        return SignalSafeWorkerInit(rank=self.world_size_and_rank[1])

    def build_datasets(self) -> tuple[Dataset, Dataset]:
        """Return ``(train_set, test_set)``; raise :class:`DataNotFoundError` if the data is missing."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set, self.test_set = self.build_datasets()

    def train_tensors(self) -> tuple[Tensor, Tensor | None]:
        """The train split for ``on_device``: uint8 ``(N, C, H, W)`` images in [0, 255] and int64 ``(N,)`` labels (None
        when the items are images only), on the CPU; row ``i`` is item ``i`` of :attr:`train_set`. This generic
        version reads every item once; subclasses with the raw pixels at hand override it.

        Raises:
            ValueError: an item is not a uint8 image normalized to [-1, 1] (see
                :func:`~gan_lightning.data.on_device.to_uint8`).
        """
        return materialize(self.train_set)

    def shuffled_train_loader(self, batch_size: int, generator: torch.Generator) -> DataLoader:
        """A plain shuffled, ``drop_last`` loader of the train split whose order depends on ``generator`` only
        (the metric nets' training loops; GAN training uses :meth:`train_dataloader`). With ``on_device`` the split
        is read into memory once as uint8 and a batch is one gather
        (:class:`~gan_lightning.data.on_device.RowBatches`): the same ``RandomSampler`` on the same generator, so
        the same batches as the per-item loader, without a transform per image."""
        self.setup("fit")
        if self.on_device:
            rows = RowBatches(*self.train_tensors())
            batches = BatchSampler(RandomSampler(rows, generator=generator), batch_size, drop_last=True)
            return DataLoader(rows, batch_size=None, sampler=batches, generator=generator)
        return DataLoader(self.train_set, batch_size=batch_size, shuffle=True, drop_last=True,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0, generator=generator)

    @property
    def train_device(self) -> torch.device:
        """The training device (the trainer's root device; the CPU without a trainer)."""
        strategy = getattr(self.trainer, "strategy", None)
        return strategy.root_device if strategy is not None else torch.device("cpu")

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        self.setup("fit")
        n, bs = len(self.train_set), self.loader_batch_size
        world, rank = self.world_size_and_rank
        sampler = ResumableRandomSampler(n, seed=self.seed, num_replicas=world, rank=rank)
        n = len(sampler)  # this rank's share under DDP
        self._check_one_batch(n, world)
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        skip = 0
        if self._resume_state:
            epoch, skip = self._resume_state["epoch"], self._resume_state["samples_done"]
            self._resume_state = None
            if skip >= (n // bs * bs if self.drop_last else n):  # saved at the epoch's end: next one is fresh
                epoch, skip = epoch + 1, 0
        # Set the epoch now, not only in Lightning's set_epoch: with workers, the iter() that Lightning
        # calls before set_epoch already prefetches indices.
        sampler.set_epoch(epoch)
        if skip:
            sampler.resume_from(epoch, skip)
        self._train_sampler = sampler
        if self.on_device:
            if self._device_tensors is None:
                self._device_tensors = self.train_tensors()
            images, labels = (None if t is None else t.to(self.train_device) for t in self._device_tensors)
            return DeviceBatches(images, labels, sampler, bs, self.drop_last)
        return DataLoader(
            self.train_set,
            batch_size=bs,
            sampler=sampler,
            drop_last=self.drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=self.worker_init_fn,
            # Own generator: creating the iterator must not consume the global torch RNG (bit-exact resume).
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _check_one_batch(self, n: int, world: int) -> None:
        """Refuse a training set of ``n`` images (this rank's share) that fills no batch: with ``drop_last`` Lightning
        would stop at once without a single step and report success."""
        if not self.drop_last or n >= self.loader_batch_size:
            return
        share = f" per process ({world} processes)" if world > 1 else ""
        per_step = (f" x data.batches_per_step={self.batches_per_step} = {self.loader_batch_size} images a batch"
                    if self.batches_per_step > 1 else "")
        fix = f"set data.batch_size={n // self.batches_per_step} or less, " if n >= self.batches_per_step else ""
        raise ValueError(
            f"data.batch_size={self.batch_size}{per_step} is more than the {n} training images{share} of {self.name} "
            f"({self.data_dir}): with data.drop_last=true no training step would run. Fix: {fix}add images, or set "
            "data.drop_last=false.")

    def test_dataloader(self) -> DataLoader:
        self.setup("test")
        return DataLoader(
            self.test_set, batch_size=self.batch_size, shuffle=False, drop_last=False,
            num_workers=self.num_workers, pin_memory=self.pin_memory, worker_init_fn=self.worker_init_fn,
        )

    def state_dict(self) -> dict[str, int]:
        """Position in the train epoch, stored in checkpoints by Lightning ({} when not fitting)."""
        trainer = self.trainer
        state = getattr(trainer, "state", None)
        if trainer is None or (state is not None and state.fn != TrainerFn.FITTING):
            return {}
        # `processed`, not `completed`: a checkpoint saved in on_train_batch_end (ModelCheckpoint with
        # every_n_train_steps) has processed the current batch but not yet marked it completed; on
        # restore Lightning counts that batch as done, so the sampler must skip it too.
        processed = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        # The sampler's epoch, not trainer.current_epoch: a run stopped mid-epoch by max_steps has its epoch
        # counted as completed by the time on_train_end writes last.ckpt.
        epoch = self._train_sampler.epoch if self._train_sampler is not None else trainer.current_epoch
        if processed >= trainer.num_training_batches:  # the epoch is over (limit_train_batches included)
            epoch, processed = epoch + 1, 0
        return {"epoch": int(epoch), "samples_done": int(processed * self.loader_batch_size)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Remember the saved position; the next :meth:`train_dataloader` skips what was consumed."""
        self._resume_state = dict(state_dict) if state_dict else None
