"""Rich progress bar that counts batches (generator steps), not Lightning's optimizer steps."""

from __future__ import annotations

from pytorch_lightning.callbacks import RichProgressBar


class GeneratorStepProgressBar(RichProgressBar):
    """RichProgressBar whose total, under `max_g_steps`, is the generator steps left.

    Lightning sizes the bar by `max_steps - global_step`, but under manual optimization
    `global_step` advances n_critic + 1 times per batch, so the stock bar ends half-way or earlier.
    """

    @property
    def total_train_batches(self) -> int | float:
        trainer = self.trainer
        if trainer.max_epochs == -1 and trainer.max_steps and trainer.max_steps > 0:
            steps_per_batch = getattr(trainer.lightning_module, "optimizer_steps_per_g_step", 1)
            return min(trainer.num_training_batches, (trainer.max_steps - trainer.global_step) // steps_per_batch)
        return trainer.num_training_batches

    def _get_train_description(self, current_epoch: int) -> str:
        if self.trainer.max_epochs == -1:  # bounded by max_g_steps: no epoch total to show
            return f"Epoch {current_epoch}"
        return super()._get_train_description(current_epoch)
