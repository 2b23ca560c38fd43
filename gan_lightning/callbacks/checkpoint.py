"""ModelCheckpoint keyed on generator steps instead of Lightning's global_step, that also saves on preemption."""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_warn


class GeneratorStepCheckpoint(ModelCheckpoint):
    """Saves every `every_n_g_steps` generator steps, and `last.ckpt` at the end of training and when the run is
    stopped: on SIGTERM (a cluster preemption) or a first Ctrl-C (SIGINT), the current batch is finished and
    `last.ckpt` written before Lightning shuts down, so a resume continues from that generator step. A second
    Ctrl-C aborts at once.

    Under manual optimization Lightning's `global_step` advances n_critic + 1 times per batch, so
    `every_n_train_steps` would depend on n_critic. File names may use `{g_step}`.

    Args:
        every_n_g_steps: cadence in generator steps (0 disables step-based saving).
        save_on_interrupt: write `last.ckpt` on SIGTERM / Ctrl-C as above.
        **kwargs: passed to `ModelCheckpoint` (dirpath, filename, save_last, save_top_k, ...).
    """

    def __init__(self, every_n_g_steps: int = 1000, save_on_interrupt: bool = True, **kwargs) -> None:
        if every_n_g_steps < 0:
            raise ValueError(f"callbacks.model_checkpoint.every_n_g_steps must be >= 0, got {every_n_g_steps}.")
        kwargs.setdefault("every_n_epochs", 0)
        super().__init__(every_n_train_steps=0, **kwargs)
        self.every_n_g_steps = every_n_g_steps
        self.save_on_interrupt = save_on_interrupt
        self._interrupted = False
        self._previous_sigint: Any = None

    # ---- Ctrl-C: stop after the current batch (SIGTERM is Lightning's: trainer.received_sigterm) -----------
    def on_train_start(self, trainer: pl.Trainer, pl_module) -> None:
        self._interrupted = False
        if self.save_on_interrupt and threading.current_thread() is threading.main_thread():
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._interrupted:  # a second Ctrl-C: the user wants out now
            raise KeyboardInterrupt
        self._interrupted = True
        rank_zero_warn("Ctrl-C: finishing this batch, writing last.ckpt and stopping (press again to abort now).")

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def teardown(self, trainer: pl.Trainer, pl_module, stage: str) -> None:
        self._restore_sigint()

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
        stopping = self.save_on_interrupt and (self._interrupted or trainer.received_sigterm)
        if self.every_n_g_steps and pl_module.g_step % self.every_n_g_steps == 0:
            self.save_now(trainer)
        elif self.save_last and (stopping or 0 < trainer.max_steps <= trainer.global_step):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        if self._interrupted:  # saved: now Lightning's own Ctrl-C shutdown (should_stop would wait for min_epochs)
            raise KeyboardInterrupt

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
