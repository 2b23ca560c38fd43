"""Building blocks shared by the image-to-image networks (U-Net, PatchGAN, ResNet generator): the normalization
choice of Isola 2017 / Zhu 2017 and argument checks that name the config key."""

from __future__ import annotations

from torch import nn

NORMS: tuple[str, ...] = ("batch", "instance")


def check_norm(norm: str, key: str) -> None:
    """Raise ValueError naming the config ``key`` unless ``norm`` is one of :data:`NORMS`."""
    if norm not in NORMS:
        raise ValueError(f"{key} must be one of {NORMS}, got {key}={norm!r}")


def make_norm2d(norm: str, channels: int) -> nn.Module:
    """BatchNorm2d, or InstanceNorm2d(affine=False, track_running_stats=False) as in the CycleGAN /
    Pix2Pix reference code (no learnable affine, statistics of each image at train and test time)."""
    check_norm(norm, "norm")
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def conv_bias(norm: str) -> bool:
    """Bias of a conv followed by ``norm``: BatchNorm's shift makes it redundant; kept with instance
    norm, as the reference code does."""
    return norm != "batch"


def check_int(key: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {key}={value!r}")


def check_dropout(key: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{key} must be in [0, 1), got {key}={value!r}")
