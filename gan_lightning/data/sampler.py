"""A seeded, epoch-aware random sampler that can resume mid-epoch."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableRandomSampler(Sampler[int]):
    """Random permutation of ``range(n)`` that depends only on ``(seed, epoch)``.

    Why it exists: Lightning does not save the position of a plain ``DataLoader``, so a run
    resumed from a mid-epoch checkpoint would see a fresh shuffle (and repeat samples).
    Here the order of epoch ``e`` is ``torch.randperm(n, generator=Generator().manual_seed(seed + e))``,
    reproducible from two integers, and :meth:`resume_from` skips what was already consumed,
    so a resumed run sees bit-exactly the batches the uninterrupted run would have seen.
    It never touches torch's global RNG.
    """

    def __init__(self, data_source_len: int, seed: int = 0, shuffle: bool = True) -> None:
        if data_source_len < 0:
            raise ValueError(f"data_source_len must be >= 0, got {data_source_len}")
        self.n = int(data_source_len)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, samples to skip), one-shot

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch`` (Lightning calls this at every epoch start)."""
        self.epoch = int(epoch)

    def resume_from(self, epoch: int, num_samples_done: int) -> None:
        """Make the next ``__iter__`` skip the first ``num_samples_done`` indices of ``epoch``.

        One-shot: cleared by the next ``__iter__``; ignored if that iteration is for another epoch
        (e.g. the checkpoint was taken at the end of ``epoch`` and training moved on).
        """
        if num_samples_done < 0:
            raise ValueError(f"num_samples_done must be >= 0, got {num_samples_done}")
        self._resume = (int(epoch), int(num_samples_done))

    def order(self, epoch: int) -> torch.Tensor:
        """The full index order of ``epoch`` (int64 tensor of length n)."""
        if not self.shuffle:
            return torch.arange(self.n)
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))

    def __iter__(self) -> Iterator[int]:
        skip = 0
        if self._resume is not None:
            if self._resume[0] == self.epoch:
                skip = self._resume[1]
            self._resume = None
        return iter(self.order(self.epoch)[skip:].tolist())

    def __len__(self) -> int:
        # Always the full length: after a resume Lightning keeps counting batch_idx from the
        # restored value, so the per-epoch total must stay the same.
        return self.n
