"""ModelCheckpoint keyed on generator steps instead of Lightning's global_step, that also saves on preemption."""

from __future__ import annotations

import logging
import signal
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from gan_lightning.utils.signals import STOP_SIGNALS, in_main_thread, stop_exit_code

log = logging.getLogger(__name__)

class GeneratorStepCheckpoint(ModelCheckpoint):
    """Saves every `every_n_g_steps` generator steps, and `last.ckpt` at the end of training and when the run is
    stopped by a signal: on SIGTERM (preemption, ``scancel``, the time limit, GNU ``timeout``), a first Ctrl-C
    (SIGINT), SIGUSR1 (Lightning's SLURM requeue signal) or SIGUSR2 (what submitit asks SLURM to send
    ``signal_delay_s`` before the time limit), the current batch is finished, `last.ckpt` written, and the run
    ends with Lightning's ``SIGTERMException`` (a ``SystemExit``) whose exit status is ``128 + signal number``
    (143 for SIGTERM, 130 for Ctrl-C). A second Ctrl-C aborts at once. A resume continues from that generator
    step (``ckpt_path=auto`` finds the file).

    Signals sent to the whole process group are fine: DataLoader workers ignore them
    (:class:`~gan_lightning.utils.signals.SignalSafeWorkerInit`). Under DDP every rank decides at each batch end
    whether any rank received a stop signal (one small all-reduce), so all ranks save and stop at the same batch.
    The handlers replace Lightning's own SIGTERM handler during training (it sets ``trainer.received_sigterm``
    per rank, which can stop the ranks at different batches) and are restored when training ends. Installed only
    from the main thread. A SIGUSR1/SIGUSR2 handler that was installed before (submitit's requeue, Lightning's
    SLURM auto-requeue) is called after `last.ckpt` is written, on the ranks that received the signal.

    Under manual optimization Lightning's `global_step` advances n_critic + 1 times per batch, so
    `every_n_train_steps` would depend on n_critic. File names may use `{g_step}`.

    Args:
        every_n_g_steps: cadence in generator steps (0 disables step-based saving).
        save_on_interrupt: handle the stop signals as above (False: Lightning's default handling).
        **kwargs: passed to `ModelCheckpoint` (dirpath, filename, save_last, save_top_k, ...).
    """

    def __init__(self, every_n_g_steps: int = 1000, save_on_interrupt: bool = True, **kwargs) -> None:
        if every_n_g_steps < 0:
            raise ValueError(f"callbacks.model_checkpoint.every_n_g_steps must be >= 0, got {every_n_g_steps}.")
        kwargs.setdefault("every_n_epochs", 0)
        super().__init__(every_n_train_steps=0, **kwargs)
        self.every_n_g_steps = every_n_g_steps
        self.save_on_interrupt = save_on_interrupt
        self.stop_signal: int | None = None  # the first stop signal this process received
        self._previous_handlers: dict[int, Any] = {}

    # ---- stop signals: finish the batch, save, stop ------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module) -> None:
        self.stop_signal = signal.SIGTERM if trainer.received_sigterm else None  # Lightning's, before training
        if self.save_on_interrupt and in_main_thread():
            for signum in STOP_SIGNALS:
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.stop_signal is not None:  # a second Ctrl-C: the user wants out now
            raise KeyboardInterrupt
        if self.stop_signal is None:
            self.stop_signal = signum
            # Logged from the handler; the save happens at the batch end.
            log.warning("Received %s: finishing this batch, writing last.ckpt and stopping%s.",
                        signal.Signals(signum).name, " (Ctrl-C again to abort now)" if signum == signal.SIGINT else "")

    def _restore_handlers(self) -> None:
        for signum, previous in self._previous_handlers.items():
            if signal.getsignal(signum) == self._on_signal:  # still ours: Lightning may have restored its own
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous_handlers = {}

    def _agreed_stop_signal(self, trainer: pl.Trainer) -> int | None:
        """The stop signal of any rank (the largest signal number if ranks differ), the same on every rank."""
        mine = self.stop_signal or 0
        if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor(mine, device=trainer.strategy.root_device)
            mine = int(trainer.strategy.reduce(flag, reduce_op="max"))
        return mine or None

    def _stop(self, trainer: pl.Trainer, signum: int) -> None:
        """After `last.ckpt` is written: log the batch, restore the handlers, run a chained requeue handler, end
        the run."""
        log.warning("Stopped by %s at generator step %d; %s written.", signal.Signals(signum).name,
                    trainer.lightning_module.g_step, self.last_model_path or "last.ckpt")
        # What Lightning does after this hook, so the stop batch's metrics reach the loggers (under ddp_spawn no
        # one finalizes the loggers after the exception: flush them here).
        trainer._logger_connector.on_batch_end()
        trainer._logger_connector.update_train_step_metrics()
        for logger in trainer.loggers:
            logger.save()
        previous = self._previous_handlers.get(signum)
        self._restore_handlers()
        if self.stop_signal == signum and signum not in (signal.SIGTERM, signal.SIGINT) and callable(previous):
            previous(signum, None)  # e.g. submitit's USR2 handler: requeue this job, then sys.exit
        raise SIGTERMException(stop_exit_code(signum))

    def on_exception(self, trainer: pl.Trainer, pl_module, exception: BaseException) -> None:
        self._restore_handlers()

    def teardown(self, trainer: pl.Trainer, pl_module, stage: str) -> None:
        self._restore_handlers()

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
        stop = self._agreed_stop_signal(trainer) if self.save_on_interrupt else None
        if self.every_n_g_steps and pl_module.g_step % self.every_n_g_steps == 0:
            self.save_now(trainer)
        elif self.save_last and (stop or 0 < trainer.max_steps <= trainer.global_step):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        if stop:
            # Not should_stop: that waits for min_epochs and runs the train-end hooks (a final evaluation).
            self._stop(trainer, stop)

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        self._restore_handlers()  # before Lightning restores the handlers it found
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
