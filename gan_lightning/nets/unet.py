"""U-Net generator of Pix2Pix (Isola et al. 2017, sec. 3.2.1 "Generator with skips", appendix 6.1.1).

Encoder C64-C128-C256-C512-C512-C512-C512-C512 (4x4 convs, stride 2, LeakyReLU(0.2), no norm on
the first layer), decoder CD512-CD512-CD512-C512-C256-C128-C64 (4x4 stride-2 transposed convs,
ReLU, dropout 0.5 in the first three blocks), then a transposed conv to the output channels and
Tanh. Skips concatenate encoder layer i with decoder layer n - i. The module also holds the norm
helper shared by the other image-to-image networks (:func:`make_norm2d`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gan_lightning.nets.init import normal_init_
from gan_lightning.nets.layers import check_dropout, check_int, check_norm, conv_bias, make_norm2d

def _unet_depth(image_size: int, num_downs: int | None) -> int:
    key = "model.generator.image_size"
    if num_downs is None:
        if isinstance(image_size, int) and image_size >= 16 and image_size & (image_size - 1) == 0:
            return int(math.log2(image_size))
        raise ValueError(
            f"{key}={image_size!r} is an image size the U-Net depth cannot take: with "
            "model.generator.num_downs unset it must be a power of two >= 16 (16, 32, 64, 128, 256, 512, ...), "
            "so that log2(image_size) stride-2 layers reach a 1x1 bottleneck"
        )
    check_int("model.generator.num_downs", num_downs, 1)
    check_int(key, image_size, 1)
    if image_size % 2**num_downs:
        raise ValueError(
            f"{key}={image_size} is an image size the U-Net depth cannot take: with "
            f"model.generator.num_downs={num_downs} it must be a multiple of 2**{num_downs}={2**num_downs}"
        )
    return num_downs


class UNetGenerator(nn.Module):
    """Pix2Pix U-Net generator: image x (N, in_channels, H, W) in [-1, 1] -> (N, out_channels, H, W) in [-1, 1].

    ``num_downs`` stride-2 4x4 convs (default log2(image_size): 8 at 256, 7 at 128, 6 at 64, 5 at 32),
    so the bottleneck is 1x1. Encoder layer i has min(base_width * 2**i, base_width * 8) channels; the
    decoder mirrors it. Layer order follows the paper's reference code: each encoder layer is
    LeakyReLU(0.2) -> Conv -> Norm (no activation / norm before the first conv, no norm on the 1x1
    bottleneck, where a per-sample norm would zero it); each decoder block is ReLU -> ConvTranspose ->
    Norm [-> Dropout]; the output block ReLU -> ConvTranspose -> Tanh. Skips concatenate the
    (pre-activation) encoder output on channels, doubling the decoder's input widths
    (appendix 6.1.1: CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128).

    Noise: there is no z; dropout in the first three decoder blocks is the noise source (sec. 3.1).
    The paper also applies dropout at test time (sec. 3.3): ``model.eval()`` turns the ``nn.Dropout``
    modules off like any other; :meth:`set_dropout_active` ``(True)`` keeps them on whatever the mode.
    (Sec. 3.3 also uses test-batch BatchNorm statistics at inference; that is the caller's choice.)
    Weights use :func:`normal_init_` (N(0, 0.02), appendix 6.2).

    The net is fully convolutional: any H, W divisible by 2**num_downs works (larger inputs give a
    bottleneck larger than 1x1).

    Args:
        in_channels / out_channels: image channels of x / of the output.
        image_size: training H = W; sets the depth when ``num_downs`` is None.
        base_width: channels of the first layer (paper: 64).
        norm: ``"batch"`` (paper) or ``"instance"``.
        dropout: rate of the three decoder dropouts (paper: 0.5; 0 removes them).
        skip_connections: False gives the paper's encoder-decoder ablation (sec. 4.3): same layers,
            no concatenation.
        num_downs: number of stride-2 layers, overriding log2(image_size).

    Raises:
        ValueError: naming the config key (``model.generator.<arg>``) for an image size the depth cannot
            take, an unknown norm, dropout outside [0, 1) or non-positive sizes; in ``forward`` for x not
            (N, in_channels, H, W) with H, W multiples of 2**num_downs.
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: int, base_width: int = 64,
                 norm: str = "batch", dropout: float = 0.5, skip_connections: bool = True,
                 num_downs: int | None = None) -> None:
        super().__init__()
        for key, value in (("in_channels", in_channels), ("out_channels", out_channels), ("base_width", base_width)):
            check_int(f"model.generator.{key}", value, 1)
        check_norm(norm, "model.generator.norm")
        check_dropout("model.generator.dropout", dropout)
        n = _unet_depth(image_size, num_downs)
        self.in_channels, self.out_channels, self.image_size, self.num_downs = in_channels, out_channels, image_size, n
        self.skip_connections = skip_connections
        self.dropout_active = False
        widths = [min(base_width * 2**i, base_width * 8) for i in range(n)]

        self.down = nn.ModuleList()
        for i in range(n):
            normed = 0 < i < n - 1
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]  # not inplace: its input is a skip
            layers.append(nn.Conv2d(in_channels if i == 0 else widths[i - 1], widths[i], 4, 2, 1,
                                    bias=conv_bias(norm) if normed else True))
            if normed:
                layers.append(make_norm2d(norm, widths[i]))
            self.down.append(nn.Sequential(*layers))

        # Decoder block k outputs widths[n - 2 - k] and is followed by the skip from encoder layer n - 2 - k.
        self.up = nn.ModuleList()
        width_in = widths[-1]
        for k in range(n - 1):
            width_out = widths[n - 2 - k]
            layers = [nn.ReLU(True), nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=conv_bias(norm)),
                      make_norm2d(norm, width_out)]
            if k < 3 and dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
            width_in = 2 * width_out if skip_connections else width_out
        self.out = nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(width_in, out_channels, 4, 2, 1), nn.Tanh())
        self.apply(normal_init_)

    def set_dropout_active(self, active: bool) -> None:
        """Keep the dropout layers on in eval mode too (True; the paper's test-time noise, sec. 3.3), or
        let them follow ``train()`` / ``eval()`` again (False). Norm layers always follow the mode."""
        self.dropout_active = bool(active)
        self.train(self.training)

    def train(self, mode: bool = True) -> UNetGenerator:
        super().train(mode)
        if self.dropout_active:
            for m in self.modules():
                if isinstance(m, nn.Dropout):
                    m.train(True)
        return self

    def forward(self, x: Tensor) -> Tensor:
        m = 2**self.num_downs
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f"x must be (N, {self.in_channels}, H, W) with H, W multiples of 2**num_downs={m}, "
                             f"got {tuple(x.shape)}")
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        for k, layer in enumerate(self.up):
            x = layer(x)
            if self.skip_connections:
                x = torch.cat([x, skips[self.num_downs - 2 - k]], 1)
        return self.out(x)
