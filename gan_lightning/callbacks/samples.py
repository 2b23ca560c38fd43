"""Sample grids of the fixed latent batch, written every N generator steps, and a GIF of them."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from torch import Tensor
from torchvision.utils import make_grid

from gan_lightning.utils.images import to_uint8


class SampleGridCallback(pl.Callback):
    """Saves a PNG grid of the fixed samples (`pl_module.generate_fixed()`) every `every_n_g_steps` generator steps
    and at the end.

    Files go to `<output_dir>/g_step=<step>.png`; the grid is also sent to every logger with an
    image API (TensorBoard `add_image` at the generator step, W&B `samples` with `trainer/g_step`, the
    run's x axis). At the end of training the grids are assembled into `<output_dir>/progress.gif`. The fixed
    batch makes grids comparable over training; with EMA enabled the EMA generator draws them.

    Under DDP each rank draws a share of the fixed items (rank r the items r, r + W, ...), the shares are
    gathered, and rank zero writes and logs the grid; every rank must therefore reach the same hooks, as
    Lightning's do.

    Args:
        output_dir: folder for PNGs and the GIF (created if missing).
        every_n_g_steps: cadence in generator steps (>= 1).
        nrow: images per grid row.
        gif_frame_ms: duration of each GIF frame in milliseconds.

    Raises:
        ValueError: if `every_n_g_steps < 1`.
    """

    def __init__(self, output_dir: str, every_n_g_steps: int = 500, nrow: int = 8, gif_frame_ms: int = 300) -> None:
        if every_n_g_steps < 1:
            raise ValueError(f"callbacks.sample_grid.every_n_g_steps must be >= 1, got {every_n_g_steps}.")
        self.output_dir = Path(output_dir)
        self.every_n_g_steps = every_n_g_steps
        self.nrow = nrow
        self.gif_frame_ms = gif_frame_ms
        self.written: list[Path] = []
        self._last_g_step: int | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module) -> None:
        if pl_module.g_step == 0:
            self.write_grid(trainer, pl_module)  # the untrained generator, for reference

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if pl_module.g_step % self.every_n_g_steps == 0:
            self.write_grid(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        self.write_grid(trainer, pl_module)
        if trainer.is_global_zero and len(self.written) > 1:
            frames = [Image.open(path).convert("RGB") for path in self.written]
            frames[0].save(
                self.output_dir / "progress.gif", save_all=True, append_images=frames[1:],
                duration=self.gif_frame_ms, loop=0,
            )

    def write_grid(self, trainer: pl.Trainer, pl_module) -> Path | None:
        """Draw the fixed batch and write/log its grid; returns the PNG path (None off rank 0)."""
        if self._last_g_step == pl_module.g_step:
            return None
        self._last_g_step = pl_module.g_step
        images = self.draw(trainer, pl_module)
        if not trainer.is_global_zero:
            return None
        nrow = getattr(pl_module, "sample_grid_nrow", None) or self.nrow  # translation grids: one row per image kind
        grid = make_grid(to_uint8(images).cpu(), nrow=nrow, padding=2)  # (3, H, W) uint8
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"g_step={pl_module.g_step:07d}.png"
        Image.fromarray(grid.permute(1, 2, 0).numpy()).save(path)
        self.written.append(path)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("samples", grid, global_step=pl_module.g_step)
            elif isinstance(logger, WandbLogger):
                import wandb

                logger.log_metrics({"samples": wandb.Image(str(path), caption=f"g_step {pl_module.g_step}"),
                                    "trainer/g_step": pl_module.g_step}, step=trainer.global_step)
        return path

    @staticmethod
    def draw(trainer: pl.Trainer, pl_module) -> Tensor:
        """The grid's images, (M, C, H, W) in [-1, 1]: drawn whole in one process, else a share per rank, gathered
        (a collective: every rank calls it)."""
        world = trainer.world_size
        if world == 1:
            return pl_module.generate_fixed()
        # BatchNorm statistics drift apart between DDP's buffer broadcasts: draw every share with rank zero's, the
        # ones its checkpoint saves.
        for buffer in pl_module.sampling_generator.buffers():
            torch.distributed.broadcast(buffer, src=0)
        n = pl_module.num_fixed_samples
        per_rank = -(-n // world)
        index = torch.arange(trainer.global_rank, n, world, device=pl_module.device)
        # Equal shapes for all_gather: pad with repeats; the padding sorts past item n - 1 and is dropped below.
        index = torch.cat([index, index.new_full((per_rank - len(index),), int(index[-1]) if len(index) else 0)])
        parts = []
        for part in pl_module.fixed_parts(index):
            gathered = pl_module.all_gather(part)  # (world, per_rank, C, H, W): rank r, position j = item r + j * world
            parts.append(gathered.transpose(0, 1).reshape(-1, *part.shape[1:])[:n])
        return pl_module.grid_from_parts(parts)
