"""A callback the DDP tests add to a run: each rank writes what it saw, so the test can compare ranks."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from gan_lightning.callbacks.samples import SampleGridCallback


class RankProbe(pl.Callback):
    """Writes ``rank<r>.pt`` to ``output_dir`` at the end of training: the parameters, the first train batch's
    image sum, a draw from the torch RNG at the first step (after the module split it by rank), the final
    scalar metrics, and the sample grid's images drawn by the ranks and gathered, next to this rank's own."""

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.first: dict[str, float] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.first:
            return
        state = torch.get_rng_state()
        self.first["rng_draw"] = float(torch.rand(()))
        torch.set_rng_state(state)  # observe without disturbing the run
        tensors = [t for t in _tensors(batch) if t.is_floating_point()]
        self.first["batch_sum"] = float(sum(t.double().sum() for t in tensors))

    def on_train_end(self, trainer, pl_module) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        state = torch.get_rng_state()
        gathered = SampleGridCallback.draw(trainer, pl_module)  # a share per rank, gathered
        whole = pl_module.generate_fixed()  # this rank alone
        torch.set_rng_state(state)
        torch.save({
            "grid": {"gathered": gathered.cpu(), "whole": whole.cpu()},
            "params": {k: v.detach().cpu().clone() for k, v in pl_module.named_parameters()},
            "first": self.first,
            "g_step": pl_module.g_step,
            "world_size": trainer.world_size,
            "metrics": {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1},
        }, self.output_dir / f"rank{trainer.global_rank}.pt")


def _tensors(batch):
    if isinstance(batch, torch.Tensor):
        yield batch
    elif isinstance(batch, dict):
        for v in batch.values():
            yield from _tensors(v)
    elif isinstance(batch, (list, tuple)):
        for v in batch:
            yield from _tensors(v)
