"""Stop training at a non-finite loss, before a checkpoint can save broken weights."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor


class NonFiniteLossError(FloatingPointError):
    """Raised when a training loss is NaN or infinite."""


class NaNGuard(pl.Callback):
    """Watches ``pl_module.last_losses`` after every generator step and stops on NaN / Inf.

    The per-step test stays on the device (a running "all finite" flag); the host reads it, which waits for the
    device, only every ``check_every_n_g_steps`` generator steps and before any checkpoint is written
    (``on_save_checkpoint``), so no checkpoint ever holds weights trained on a non-finite loss: ``last.ckpt``
    stays the last good one. With 1 the run stops at the first bad step; a larger cadence (the logger's, by
    default in conf/callbacks/default.yaml) saves a device synchronisation per step on a GPU and stops at most
    that many steps later.

    Args:
        check_every_n_g_steps: generator steps between host reads of the flag (>= 1).

    Raises:
        NonFiniteLossError: naming the loss, its value, the generator steps and the last checkpoint.
        ValueError: ``check_every_n_g_steps < 1``.
    """

    def __init__(self, check_every_n_g_steps: int = 1) -> None:
        if check_every_n_g_steps < 1:
            raise ValueError(f"callbacks.nan_guard.check_every_n_g_steps={check_every_n_g_steps} is invalid: use "
                             "1 (every step) or more")
        self.check_every_n_g_steps = int(check_every_n_g_steps)
        self._finite: Tensor | None = None
        self._checked_step = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        losses = pl_module.last_losses
        if not losses:
            return
        finite = torch.isfinite(torch.stack([v.float() for v in losses.values()])).all()
        self._finite = finite if self._finite is None else self._finite & finite
        if pl_module.g_step % self.check_every_n_g_steps == 0:
            self._check(trainer, pl_module)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        self._check(trainer, pl_module)

    def _check(self, trainer: pl.Trainer, pl_module) -> None:
        step = pl_module.g_step
        if self._finite is None or bool(self._finite):
            self._checked_step = step
            return
        losses = pl_module.last_losses
        now = ", ".join(f"{k} = {v.item()}" for k, v in losses.items() if not math.isfinite(v.item()))
        when = (f"at generator step {step}" if step - self._checked_step <= 1
                else f"between generator steps {self._checked_step + 1} and {step}")
        last = getattr(trainer.checkpoint_callback, "last_model_path", "") or "none written yet"
        raise NonFiniteLossError(
            f"non-finite loss {when} (now {now or 'finite again'}): training stopped. "
            f"Last good checkpoint: {last}. Lower the learning rates, enable "
            "model.gradient_clip_val, or try another loss."
        )
