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

    Under DDP each of ``num_replicas`` ranks takes every ``num_replicas``-th index of the same permutation,
    starting at ``rank`` (the tail that does not divide evenly is dropped, so all ranks run the same number of
    steps), as ``torch.utils.data.DistributedSampler(drop_last=True)``; Lightning's own sampler replacement is
    switched off (``trainer.use_distributed_sampler=false``), which would lose the resume position.

    Raises:
        ValueError: ``data_source_len < 0`` or ``rank`` outside ``[0, num_replicas)``.
    """

    def __init__(self, data_source_len: int, seed: int = 0, shuffle: bool = True,
                 num_replicas: int = 1, rank: int = 0) -> None:
        if data_source_len < 0:
            raise ValueError(f"data_source_len must be >= 0, got {data_source_len}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        self.n = int(data_source_len)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.num_replicas, self.rank = int(num_replicas), int(rank)
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

    def twin(self, seed: int) -> "ResumableRandomSampler":
        """A sampler over the same indices, ranks, epoch and pending resume position, shuffled with ``seed``: a
        second, independent pass over the data that resumes exactly with this one."""
        other = ResumableRandomSampler(self.n, seed=seed, shuffle=self.shuffle, num_replicas=self.num_replicas,
                                       rank=self.rank)
        other.epoch, other._resume = self.epoch, self._resume
        return other

    def order(self, epoch: int) -> torch.Tensor:
        """This rank's index order of ``epoch`` (int64 tensor of length ``len(self)``; all n on one process)."""
        if not self.shuffle:
            full = torch.arange(self.n)
        else:
            full = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))
        if self.num_replicas == 1:
            return full
        return full[self.rank:len(self) * self.num_replicas:self.num_replicas]

    def indices(self) -> torch.Tensor:
        """What one iteration yields, as an int64 tensor: :meth:`order` of the current epoch minus the samples a
        pending :meth:`resume_from` skips (and clears)."""
        skip = 0
        if self._resume is not None:
            if self._resume[0] == self.epoch:
                skip = self._resume[1]
            self._resume = None
        return self.order(self.epoch)[skip:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        # Always the full length: after a resume Lightning keeps counting batch_idx from the
        # restored value, so the per-epoch total must stay the same.
        return self.n // self.num_replicas
