"""Periodic domain FID / IS of generated samples during GAN training (see :mod:`gan_lightning.metrics.domain`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from gan_lightning.callbacks.evaluation import PeriodicEvaluation, log_metrics, warn_if_other_dataset
from gan_lightning.metrics.domain import DomainMetrics, load_domain_classifier, preserve_global_rng


class DomainMetricsCallback(PeriodicEvaluation):
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

    config_key = "domain_metrics"

    def __init__(self, classifier_path: str, num_samples: int = 2000, every_n_g_steps: int | None = 500, batch_size: int = 250, seed: int = 1234):
        super().__init__(every_n_g_steps=every_n_g_steps, at_train_start=True)
        if num_samples < 2:
            raise ValueError(f"callbacks.domain_metrics.num_samples must be >= 2 for a covariance, got {num_samples}")
        self.classifier_path, self.num_samples = str(classifier_path), num_samples
        self.batch_size, self.seed = batch_size, seed
        self.reference: dict[str, float] | None = None
        self._metrics: DomainMetrics | None = None
        self._real_ready = False

    # ---- Lightning hooks -------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self._metrics is not None:
            return
        classifier = load_domain_classifier(self.classifier_path)  # fail before the first step
        self._metrics = DomainMetrics(classifier)
        warn_if_other_dataset(self.classifier_path, classifier.meta.get("dataset"), trainer.datamodule)

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
        log_metrics(trainer, pl_module, {f"metrics/{k}": v for k, v in self.reference.items()})
        super().on_train_start(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "reference": self.reference}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.reference = state_dict.get("reference")

    # ---- evaluation ---------------------------------------------------------------------------------------
    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, float]:
        """Generate ``num_samples`` images (this rank's share) and return ``{"domain_fid", "domain_is"}``."""
        metrics, device = self._metrics, pl_module.device
        if metrics is None:
            raise RuntimeError("DomainMetricsCallback.evaluate() called before setup(stage='fit')")
        metrics.to(device)
        try:
            generator = torch.Generator(device=device).manual_seed(self.seed + trainer.global_rank)
            todo = len(range(trainer.global_rank, self.num_samples, trainer.world_size))
            while todo > 0:
                n = min(self.batch_size, todo)
                metrics.update_fake(pl_module.generate(n, generator=generator))
                todo -= n
            return metrics.compute()
        finally:
            metrics.reset()

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
