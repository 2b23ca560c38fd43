"""Conversions between model images in [-1, 1] and uint8 pixels."""

from __future__ import annotations

import torch
from torch import Tensor


def to_uint8(images: Tensor) -> Tensor:
    """Map images (N, C, H, W) in [-1, 1] to uint8 (N, 3, H, W), grey tiled to 3 channels.

    Quantization is round(clamp((x + 1) / 2, 0, 1) * 255), the usual protocol for saving and
    scoring samples (a plain `.byte()` would truncate instead of round).

    Raises:
        ValueError: if `images` is not 4-D or has neither 1 nor 3 channels.
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, 1|3, H, W), got {tuple(images.shape)}")
    pixels = ((images.detach().float() + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels
