"""ModelCheckpoint keyed on generator steps instead of Lightning's global_step."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint


class GeneratorStepCheckpoint(ModelCheckpoint):
    """Saves every `every_n_g_steps` generator steps, and `last.ckpt` at the end of training.

    Under manual optimization Lightning's `global_step` advances n_critic + 1 times per batch, so
    `every_n_train_steps` would depend on n_critic. File names may use `{g_step}`.

    Args:
        every_n_g_steps: cadence in generator steps (0 disables step-based saving).
        **kwargs: passed to `ModelCheckpoint` (dirpath, filename, save_last, save_top_k, ...).
    """

    def __init__(self, every_n_g_steps: int = 1000, **kwargs) -> None:
        if every_n_g_steps < 0:
            raise ValueError(f"callbacks.model_checkpoint.every_n_g_steps must be >= 0, got {every_n_g_steps}.")
        kwargs.setdefault("every_n_epochs", 0)
        super().__init__(every_n_train_steps=0, **kwargs)
        self.every_n_g_steps = every_n_g_steps

    def _monitor_candidates(self, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
        candidates = super()._monitor_candidates(trainer)
        candidates["g_step"] = torch.tensor(trainer.lightning_module.g_step)
        return candidates

    def save_now(self, trainer: pl.Trainer) -> None:
        """Write the periodic checkpoint and `last.ckpt` for the current step (once per step)."""
        if self._should_skip_saving_checkpoint(trainer):
            return
        candidates = self._monitor_candidates(trainer)
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        # The final step of a max_steps-bounded run is saved here, not in on_train_end: by then Lightning has
        # counted the interrupted epoch as completed, and a resume would skip the rest of it.
        if self.every_n_g_steps and pl_module.g_step % self.every_n_g_steps == 0:
            self.save_now(trainer)
        elif self.save_last and 0 < trainer.max_steps <= trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
