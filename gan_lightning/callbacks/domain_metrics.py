"""Periodic domain FID / IS of generated samples during GAN training (see :mod:`gan_lightning.metrics.domain`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor

from gan_lightning.metrics.domain import DomainMetrics, load_domain_classifier, preserve_global_rng


class DomainMetricsCallback(pl.Callback):
    """Log ``metrics/domain_fid`` and ``metrics/domain_is`` at fit start, every ``every_n_g_steps`` generator
    steps and at train end, plus the real-data references ``metrics/domain_fid_real`` (floor: real train vs
    real test) and ``metrics/domain_is_real`` (ceiling) once per fit start.

    The reference set is ``num_samples`` images of the datamodule's ``test_set`` (all if fewer); the floor uses
    as many ``train_set`` images. Subsets are evenly spaced over the dataset so a class-sorted dataset still gives
    a balanced sample. Fakes come from ``pl_module.generate(n, generator=...)`` ((n, C, H, W) in [-1, 1]) with a
    generator seeded by ``seed``, in eval mode and ``torch.no_grad()``; module train/eval flags and the global
    torch RNG are restored afterwards, so training is bit-identical with or without this callback.
    Under DDP each rank handles a strided shard (seed offset by rank) and torchmetrics syncs the statistics.

    Values are sent to every ``trainer.loggers`` entry at ``step=trainer.global_step`` together with
    ``trainer/g_step`` (``pl_module.log`` is not allowed in on_train_start/end), copied into
    ``trainer.callback_metrics`` and appended to :attr:`history` as ``{"g_step", "domain_fid", "domain_is"}``.
    The history is saved in checkpoints, so a resumed run does not re-evaluate the same generator step.

    Raises:
        FileNotFoundError: at ``setup`` (before training) when ``classifier_path`` does not exist.
    """

    def __init__(self, classifier_path: str, num_samples: int = 2000, every_n_g_steps: int | None = 500, batch_size: int = 250, seed: int = 1234):
        if num_samples < 2:
            raise ValueError(f"num_samples must be >= 2 for a covariance, got {num_samples}")
        self.classifier_path, self.num_samples, self.every_n_g_steps = str(classifier_path), num_samples, every_n_g_steps
        self.batch_size, self.seed = batch_size, seed
        self.history: list[dict[str, float]] = []
        self.reference: dict[str, float] | None = None
        self._metrics: DomainMetrics | None = None
        self._real_ready = False
        self._last_g_step: int | None = None

    # ---- Lightning hooks -------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self._metrics is not None:
            return
        classifier = load_domain_classifier(self.classifier_path)  # fail before the first step
        self._metrics = DomainMetrics(classifier)
        trained_on, data_name = classifier.meta.get("dataset"), getattr(trainer.datamodule, "name", None)
        norm = lambda s: re.sub(r"[^a-z0-9]", "", str(s).lower())  # noqa: E731  ("fashion_mnist" == "FashionMNIST")
        if trained_on and data_name and norm(trained_on) != norm(data_name):
            rank_zero_warn(f"Domain classifier {self.classifier_path} was trained on {trained_on!r}, data is {data_name!r}.")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = self._metrics.to(pl_module.device)
        dm = trainer.datamodule
        with torch.no_grad(), preserve_global_rng(pl_module.device):  # dataset transforms may draw random numbers
            if not self._real_ready:
                for x in self._real_batches(self._dataset(dm, "test_set"), trainer):
                    metrics.update_real(x.to(pl_module.device))
                self._real_ready = True
            if self.reference is None:
                try:
                    for x in self._real_batches(self._dataset(dm, "train_set"), trainer):
                        metrics.update_fake(x.to(pl_module.device))
                    values = metrics.compute()
                finally:
                    metrics.reset()
                self.reference = {"domain_fid_real": values["domain_fid"], "domain_is_real": values["domain_is"]}
        self._log(trainer, pl_module, self.reference)
        if self._last_g_step != pl_module.g_step:
            self.evaluate(trainer, pl_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        n, g = self.every_n_g_steps, pl_module.g_step
        last = -1 if self._last_g_step is None else self._last_g_step
        # Several batches can share one g_step (n_critic > 1): evaluate once, when a multiple of n is crossed.
        if n and g // n > last // n:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._last_g_step != pl_module.g_step:
            self.evaluate(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "last_g_step": self._last_g_step, "reference": self.reference}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
        self._last_g_step = state_dict.get("last_g_step")
        self.reference = state_dict.get("reference")

    # ---- evaluation ---------------------------------------------------------------------------------------
    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, float]:
        """Generate ``num_samples`` images, log and return ``{"g_step", "domain_fid", "domain_is"}``."""
        metrics, device, g_step = self._metrics, pl_module.device, int(pl_module.g_step)
        if metrics is None:
            raise RuntimeError("DomainMetricsCallback.evaluate() called before setup(stage='fit')")
        metrics.to(device)
        modes = {m: m.training for m in pl_module.modules()}
        pl_module.eval()  # BatchNorm generators must sample with running statistics and not update them
        try:
            with torch.no_grad(), preserve_global_rng(device):
                generator = torch.Generator(device=device).manual_seed(self.seed + trainer.global_rank)
                todo = len(range(trainer.global_rank, self.num_samples, trainer.world_size))
                while todo > 0:
                    n = min(self.batch_size, todo)
                    metrics.update_fake(pl_module.generate(n, generator=generator))
                    todo -= n
                values = metrics.compute()
        finally:
            metrics.reset()
            for m, mode in modes.items():
                m.training = mode  # restore per-module flags exactly (frozen submodules stay in eval)
        record = {"g_step": g_step, **values}
        self.history.append(record)
        self._last_g_step = g_step
        self._log(trainer, pl_module, values)
        return record

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule, values: dict[str, float]) -> None:
        metrics = {f"metrics/{k}": float(v) for k, v in values.items()}
        for logger in trainer.loggers:  # Lightning loggers are rank-zero-only themselves
            logger.log_metrics({**metrics, "trainer/g_step": int(pl_module.g_step)}, step=trainer.global_step)
        trainer.callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})

    @staticmethod
    def _dataset(dm: Any, attr: str) -> Any:
        if dm is None:
            raise RuntimeError("DomainMetricsCallback needs trainer.datamodule (fit with datamodule=...)")
        if getattr(dm, attr, None) is None:
            dm.setup("test" if attr == "test_set" else "fit")  # some datamodules build test_set only for stage="test"
        if getattr(dm, attr, None) is None:
            raise RuntimeError(f"{type(dm).__name__} has no {attr}; DomainMetricsCallback needs train_set and test_set")
        return getattr(dm, attr)

    def _real_batches(self, dataset: Any, trainer: pl.Trainer) -> Iterator[Tensor]:
        """Images (B, C, H, W) of this rank's shard of ``num_samples`` evenly spaced items, without a DataLoader
        (creating a DataLoader iterator draws a seed from the global RNG)."""
        total = len(dataset)
        m = min(self.num_samples, total)
        idx = [i * total // m for i in range(m)][trainer.global_rank :: trainer.world_size]
        for start in range(0, len(idx), self.batch_size):
            items = [dataset[i] for i in idx[start : start + self.batch_size]]
            yield torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items])
