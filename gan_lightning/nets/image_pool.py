"""History buffer of generated images (Shrivastava et al. 2017, sec. 2.3), used by CycleGAN (Zhu et al.
2017, sec. 4) to update the discriminators with a pool of 50 past fakes and reduce oscillation."""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """Pool of up to ``pool_size`` past generated images (C, H, W), stored detached.

    :meth:`query` takes a batch (N, C, H, W) and returns a batch of the same shape: per image, while
    the pool is not full the image is stored and returned; once full, with probability 0.5 a random
    stored image is returned and replaced by the new one, otherwise the new image is returned. The
    result is detached: feed it to the discriminator's loss only. ``pool_size=0`` returns the input
    unchanged (not detached).

    Randomness comes from the global torch CPU RNG (even under a CUDA default device), whose state
    the framework checkpoints, so a resumed run draws the same choices. :meth:`state_dict` /
    :meth:`load_state_dict` hold only a tensor and an int, so they load with
    ``torch.load(weights_only=True)``. Images keep the device of the batch they came from; a loaded
    pool image is moved to the querying batch's device / dtype when handed out.

    Raises:
        ValueError: for ``pool_size`` not an integer >= 0; in :meth:`query` for a batch that is not 4-D;
            in :meth:`load_state_dict` for a state of another pool size.
    """

    def __init__(self, pool_size: int = 50) -> None:
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 0:
            raise ValueError(f"pool_size must be an integer >= 0, got pool_size={pool_size!r}")
        self.pool_size = pool_size
        self.images: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: Tensor) -> Tensor:
        if images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.clone()  # a view would pin the whole batch's storage
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif torch.rand((), device="cpu").item() < 0.5:
                i = int(torch.randint(self.pool_size, (), device="cpu").item())
                old, self.images[i] = self.images[i], image
                # A state loaded elsewhere may sit on another device.
                out.append(old.to(device=images.device, dtype=images.dtype))
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        """``{"pool_size": int, "images": (K, C, H, W) tensor, or an empty tensor when K = 0}``."""
        images = torch.stack(self.images) if self.images else torch.empty(0)
        return {"pool_size": self.pool_size, "images": images}

    def load_state_dict(self, state: dict) -> None:
        if int(state["pool_size"]) != self.pool_size:
            raise ValueError(f"the saved image pool has pool_size={int(state['pool_size'])}, this one "
                             f"pool_size={self.pool_size}")
        images = state["images"]
        self.images = [] if images.numel() == 0 else [img.clone() for img in images.detach()]
