"""W&B chart axis: generator steps."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger


class WandbGeneratorStepAxis(pl.Callback):
    """Makes ``trainer/g_step`` the x axis of every W&B chart, instead of Lightning's ``trainer/global_step``, which
    counts every optimizer step (n_critic + 1 per generator step). Every scalar and sample grid gan_lightning
    logs carries ``trainer/g_step``; W&B fills it in for the rest (``step_sync``)."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.define_metric("trainer/g_step")
                logger.experiment.define_metric("*", step_metric="trainer/g_step", step_sync=True)
