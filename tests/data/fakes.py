"""A stand-in for the parts of a Trainer that GANDataModule.state_dict reads."""

from __future__ import annotations

from types import SimpleNamespace


def fake_trainer(epoch: int, processed: int, num_training_batches: float = float("inf")) -> SimpleNamespace:
    current = SimpleNamespace(processed=processed)
    return SimpleNamespace(current_epoch=epoch, num_training_batches=num_training_batches, world_size=1, global_rank=0,
                           fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=SimpleNamespace(current=current))))
