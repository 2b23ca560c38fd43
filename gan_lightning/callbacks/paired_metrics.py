"""L1, PSNR and SSIM of a paired translation G(x) against its target y on the real test split (Pix2Pix)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from torchmetrics import MeanAbsoluteError
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from gan_lightning.callbacks.evaluation import TestSplitEvaluation


class PairedMetricsCallback(TestSplitEvaluation):
    """Log ``metrics/l1`` (mean absolute error in [-1, 1] units), ``metrics/psnr`` (dB) and ``metrics/ssim``
    (in [-1, 1], 1 = identical) of ``pl_module.translate(x)`` against y over the datamodule's ``test_set``
    (items ``{"A": x, "B": y}``), all through torchmetrics. L1 is ``MeanAbsoluteError`` over every pixel of
    the split: mean |G(x) - y| on images in [-1, 1] (G(x) clamped to [-1, 1]), so in [0, 2]. PSNR and SSIM are
    computed on images mapped to [0, 1] (``data_range=1``; SSIM with an 11x11 Gaussian window, sigma 1.5, Wang
    et al. 2004); PSNR is that of the whole split's mean squared error.

    The translation is the model's test-time one (Pix2Pix keeps its dropout noise unless configured off), so
    the values carry that noise. ``max_samples`` evenly spaced pairs are used (all if None); under
    ``trainer.fast_dev_run`` only ``batch_size``. Cadence and mechanics:
    :class:`~gan_lightning.callbacks.evaluation.PeriodicEvaluation`.

    Raises:
        ValueError: ``batch_size < 1``, ``max_samples < 1`` or a bad cadence.
        RuntimeError: at evaluation, a module without ``translate`` or a datamodule without ``test_set``.
    """

    config_key = "metrics.evaluators.paired"

    def __init__(self, every_n_g_steps: int | None = 1000, every_n_epochs: int = 0, batch_size: int = 64,
                 max_samples: int | None = None) -> None:
        super().__init__(every_n_g_steps=every_n_g_steps, every_n_epochs=every_n_epochs, at_train_start=True,
                         batch_size=batch_size, max_samples=max_samples)

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        if not callable(getattr(pl_module, "translate", None)):
            raise RuntimeError(f"{type(pl_module).__name__} has no translate(x); PairedMetricsCallback scores "
                               "image-to-image models.")
        pairs = self.test_data(trainer.datamodule, self.fast_dev_limit(trainer))
        x_all, y_all = pairs["A"], pairs["B"]
        device = pl_module.device
        psnr = PeakSignalNoiseRatio(data_range=1.0).to(device)
        ssim = StructuralSimilarityIndexMeasure(data_range=1.0).to(device)
        l1 = MeanAbsoluteError().to(device)  # flattens: the mean over every pixel of the split
        for x, y in zip(x_all.split(self.batch_size), y_all.split(self.batch_size)):
            x, y = x.to(device), y.to(device)
            fake = pl_module.translate(x).float().clamp(-1, 1)
            l1.update(fake, y)
            fake01, y01 = (fake + 1) / 2, (y + 1) / 2
            psnr.update(fake01, y01)
            ssim.update(fake01, y01)
        return {"l1": float(l1.compute()), "psnr": float(psnr.compute()), "ssim": float(ssim.compute())}
