"""Stop training at the first non-finite loss, before a checkpoint can save broken weights."""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch


class NonFiniteLossError(FloatingPointError):
    """Raised when a training loss is NaN or infinite."""


class NaNGuard(pl.Callback):
    """Checks `pl_module.last_losses` after every generator step and stops on NaN / Inf.

    Lightning runs checkpoint callbacks after all others, so the guard raises before
    `ModelCheckpoint` could write the diverged weights: `last.ckpt` stays the last good one.

    Raises:
        NonFiniteLossError: naming the loss, its value, the generator step and the last checkpoint.
    """

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        losses = pl_module.last_losses
        if not losses:
            return
        values = torch.stack([v.float() for v in losses.values()])
        if bool(torch.isfinite(values).all()):
            return
        name, value = next((k, v.item()) for k, v in losses.items() if not math.isfinite(v.item()))
        last = getattr(trainer.checkpoint_callback, "last_model_path", "") or "none written yet"
        raise NonFiniteLossError(
            f"{name} = {value} at generator step {pl_module.g_step}: training stopped. "
            f"Last good checkpoint: {last}. Lower the learning rates, enable "
            "model.gradient_clip_val, or try another loss."
        )
