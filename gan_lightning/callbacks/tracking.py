"""W&B bookkeeping: generator steps as the chart axis, and the run id kept in checkpoints."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from gan_lightning.models.base import CHECKPOINT_KEY


class WandbTracking(pl.Callback):
    """Added by ``gan_lightning.train`` when a W&B logger is configured.

    - Makes ``trainer/g_step`` the x axis of every W&B chart, instead of Lightning's ``trainer/global_step``, which
      counts every optimizer step (n_critic + 1 per generator step). Every scalar and sample grid gan_lightning
      logs carries ``trainer/g_step``; W&B fills it in for the rest (``step_sync``).
    - Stores the W&B run id in every checkpoint (``checkpoint["gan_lightning"]["wandb_run_id"]``), so that a resume
      continues the same run (``wandb_setup.configure_wandb``).
    """

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for logger in _wandb_loggers(trainer):
            logger.experiment.define_metric("trainer/g_step")
            logger.experiment.define_metric("*", step_metric="trainer/g_step", step_sync=True)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        for logger in _wandb_loggers(trainer):
            checkpoint.setdefault(CHECKPOINT_KEY, {})["wandb_run_id"] = str(logger.version)
            return


def _wandb_loggers(trainer: pl.Trainer) -> list[WandbLogger]:
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
