"""What the image-to-image models (Pix2Pix, CycleGAN) share on top of the adversarial loop: batches of image
pairs ``{"A": x, "B": y}``, translation (they draw no z), and a fixed batch of test pairs for the sample grids
(saved in checkpoints, so a resumed run draws the same grids)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.data.base import split_steps
from gan_lightning.models.base import CHECKPOINT_KEY, AdversarialModule
from gan_lightning.models.z_sampling import check_num_fixed_samples

DIRECTIONS = ("AtoB", "BtoA")
# Zero-width buffers that translation checkpoints written before the z-sampling split hold (see TranslationModule).
LEGACY_STATE_KEYS = ("fixed_z", "fixed_condition")

Batch = dict[str, Tensor]


def check_pair_batch(batch: Any) -> None:
    if not (isinstance(batch, dict) and {"A", "B"} <= set(batch)):
        raise ValueError(f"Expected a batch {{'A': x, 'B': y}} of images, got {type(batch).__name__}: use a "
                         "translation datamodule (data=edges2fashion, labels2fashion, sneaker2boot, aligned, ...).")


class TranslationModule(AdversarialModule):
    """Base of the image-to-image GANs: G maps an image of domain A (N, C_A, H, W) in [-1, 1] to domain B.

    ``split_batch`` cuts a ``{"A", "B"}`` batch into n_critic D minibatches; :meth:`translate` runs the test-time
    generator. The sample grids show up to ``num_fixed_samples`` test pairs, taken evenly spaced from the
    datamodule's ``test_set`` at the first fit start (fewer when the test set is smaller); :meth:`fixed_parts` gives
    their rows (see the subclasses), one column per pair, so :attr:`sample_grid_nrow` is their number.

    Checkpoints written before the z-sampling split (``ZSamplingModule``) still load: their zero-width
    ``fixed_z`` / ``fixed_condition`` entries are dropped, and the ``model.fixed_seed`` of their stored run config
    is accepted and unused.

    Args:
        num_fixed_samples: test pairs in the sample grids (>= 1).
        fixed_seed: unused (the pairs are chosen without randomness); accepted for stored run configs of
            checkpoints written before the split.
        *args, **kwargs: :class:`AdversarialModule` arguments.

    Raises:
        ValueError: ``num_fixed_samples < 1``, and :class:`AdversarialModule`'s checks.
    """

    def __init__(self, *args: Any, num_fixed_samples: int = 64, fixed_seed: int | None = None, **kwargs: Any) -> None:
        check_num_fixed_samples(num_fixed_samples)
        super().__init__(*args, **kwargs)
        self.num_fixed_requested = num_fixed_samples
        self.fixed_batch: Batch | None = None
        self.register_load_state_dict_pre_hook(_drop_legacy_state)

    # ----------------------------------------------------------------- batches
    def split_batch(self, batch: Batch) -> list[Batch]:
        """n_critic disjoint ``{"A", "B"}`` minibatches.

        Raises:
            ValueError: the batch is not such a dict, or cannot be split evenly.
        """
        check_pair_batch(batch)
        return [{"A": a, "B": b} for a, b in split_steps((batch["A"], batch["B"]), self.n_critic, "pairs")]

    # ----------------------------------------------------------------- translation
    def generator_for(self, net: nn.Module, direction: str) -> nn.Module:
        """The generator of ``direction`` within ``net`` (G or its EMA copy)."""
        if direction != "AtoB":
            raise ValueError(f"{type(self).__name__} translates AtoB only, got direction={direction!r}.")
        return net

    def prepare_for_inference(self, net: nn.Module) -> None:
        """Put ``net`` (already in eval mode) into the model's test-time mode; Pix2Pix keeps dropout on."""

    @torch.no_grad()
    def translate(self, x: Tensor, direction: str = "AtoB") -> Tensor:
        """Translate images x (N, C_in, H, W) in [-1, 1] with the sampling generator (EMA if enabled) in eval
        mode; returns (N, C_out, H, W) in [-1, 1]. The train/eval flags are restored afterwards.

        Raises:
            ValueError: an unknown ``direction`` (``AtoB`` or ``BtoA``; Pix2Pix has AtoB only).
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
        net = self.generator_for(self.sampling_generator, direction)
        modes = {m: m.training for m in net.modules()}
        net.eval()
        self.prepare_for_inference(net)
        try:
            return net(x)
        finally:
            for m, mode in modes.items():
                m.training = mode

    def forward(self, x: Tensor, direction: str = "AtoB") -> Tensor:
        """G of ``direction`` (in its current mode) on images x (N, C_in, H, W) in [-1, 1]."""
        return self.generator_for(self.generator, direction)(x)

    # ----------------------------------------------------------------- sample grids
    @property
    def num_fixed_samples(self) -> int:
        """Test pairs in the sample grid: those of the fixed batch once read, else the number asked for."""
        return self.num_fixed_requested if self.fixed_batch is None else int(self.fixed_batch["A"].shape[0])

    @property
    def sample_grid_nrow(self) -> int:
        """Images per grid row: one row per kind of image (input, output, ...), one column per test pair."""
        return self.num_fixed_samples

    def on_fit_start(self) -> None:
        if self.fixed_batch is None:
            self.fixed_batch = self._read_fixed_batch()
        self.fixed_batch = {k: v.to(self.device) for k, v in self.fixed_batch.items()}

    def _read_fixed_batch(self) -> Batch:
        dm = self.trainer.datamodule
        if getattr(dm, "test_set", None) is None:
            dm.setup("test")
        dataset = getattr(dm, "test_set", None)
        if dataset is None or len(dataset) == 0:
            raise RuntimeError(f"{type(dm).__name__} has no test pairs for the sample grids.")
        total = len(dataset)
        m = min(self.num_fixed_requested, total)
        items = [dataset[i * total // m] for i in range(m)]  # by index: no DataLoader draws from the global RNG
        return {k: torch.stack([item[k] for item in items]) for k in ("A", "B")}

    @staticmethod
    def as_rgb(images: Tensor) -> Tensor:
        """Grey images (N, 1, H, W) tiled to 3 channels, so rows of either domain share one grid."""
        return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images

    def grid_rows(self, rows: list[Tensor]) -> Tensor:
        """Rows (each (N, C, H, W) in [-1, 1]) stacked into one (len(rows) * N, 3, H, W) batch, row by row."""
        return torch.cat([self.as_rgb(r) for r in rows])

    def grid_from_parts(self, parts: list[Tensor]) -> Tensor:
        return self.grid_rows(parts)

    # ----------------------------------------------------------------- checkpoint state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.fixed_batch is not None:
            checkpoint[CHECKPOINT_KEY]["fixed_batch"] = {k: v.cpu() for k, v in self.fixed_batch.items()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self.fixed_batch = checkpoint[CHECKPOINT_KEY].get("fixed_batch")


def _drop_legacy_state(module: nn.Module, state_dict: dict[str, Tensor], prefix: str, *args: Any) -> None:
    """A load_state_dict pre-hook: drops the zero-width ``fixed_z`` / ``fixed_condition`` that translation
    checkpoints written before the z-sampling split hold, so they load with ``strict=True``."""
    for key in LEGACY_STATE_KEYS:
        value = state_dict.get(prefix + key)
        if value is not None and value.numel() == 0:
            state_dict.pop(prefix + key)
