"""PatchGAN discriminator of Pix2Pix (Isola et al. 2017, sec. 3.2.2, sec. 4.4, appendix 6.1.2), also CycleGAN's D.

A fully convolutional net that classifies each N x N patch as real or fake and outputs a map of
logits. The patch size (receptive field) is set by the depth: 1 (PixelGAN), 16, 70 (default) or
286 (ImageGAN at 256x256), computed from the conv geometry by :func:`receptive_field_of`.
"""

from __future__ import annotations

from typing import Iterable

from torch import Tensor, nn

from gan_lightning.nets.init import normal_init_
from gan_lightning.nets.layers import check_int, check_norm, conv_bias, make_norm2d

# receptive field -> number of stride-2 layers (None: the 1x1 PixelGAN).
RECEPTIVE_FIELDS: dict[int, int | None] = {1: None, 16: 1, 70: 3, 286: 5}


def receptive_field_of(net_or_layers: nn.Module | Iterable[nn.Module]) -> int:
    """Receptive field (pixels) of one output unit of a *chain* of convs / poolings, from their kernel
    sizes, strides and dilations: r <- (r - 1) * stride + dilation * (kernel - 1) + 1, last layer first.

    ``net_or_layers`` is a module (its submodules are taken in registration order, which must be the
    forward order) or an iterable of modules. Other modules (activations, norms) are pointwise and
    ignored. Raises ValueError for transposed convs and non-square kernels / strides.
    """
    modules = net_or_layers.modules() if isinstance(net_or_layers, nn.Module) else net_or_layers
    geometry = []
    for m in modules:
        if isinstance(m, nn.modules.conv._ConvTransposeNd):
            raise ValueError(f"receptive_field_of does not handle transposed convs, got {m}")
        if isinstance(m, (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
            k, s = _square(m.kernel_size, m), _square(m.stride, m)
            d = _square(getattr(m, "dilation", 1), m)
            geometry.append((k, s, d))
    r = 1
    for k, s, d in reversed(geometry):
        r = (r - 1) * s + d * (k - 1) + 1
    return r


def _square(v: int | tuple[int, ...], m: nn.Module) -> int:
    if isinstance(v, int):
        return v
    if len(set(v)) != 1:
        raise ValueError(f"receptive_field_of needs square kernels / strides, got {m}")
    return v[0]


class PatchGANDiscriminator(nn.Module):
    """PatchGAN: x (N, in_channels, H, W) in [-1, 1] -> patch logits (N, 1, H', W') (no sigmoid).

    Layout (appendix 6.1.2; as the reference NLayerDiscriminator): 4x4 convs C64-C128-C256-C512 for the
    70x70 patch, stride 2 except the last hidden conv and the output conv (stride 1, padding 1),
    LeakyReLU(0.2), no norm on the first layer, then a conv to 1 channel. Widths are
    min(base_width * 2**i, base_width * 8). Depth by ``receptive_field``: 16 -> C64-C128, 70 -> 3
    stride-2 layers, 286 -> C64-C128-C256-C512-C512-C512 (5 stride-2 layers); 1 -> PixelGAN, C64-C128
    with 1x1 convs. A 256x256 input gives a 30x30 map at 70 (6x6 at 286, 126x126 at 16).

    For Pix2Pix's conditional D the caller concatenates x and y on channels: in_channels = C_x + C_y.
    Weights use :func:`normal_init_` (N(0, 0.02)).

    Args:
        in_channels: input channels. receptive_field: one of 1, 16, 70, 286.
        base_width: channels of the first layer (paper: 64). norm: ``"batch"`` (paper) or ``"instance"`` (CycleGAN).

    Raises:
        ValueError: naming the config key (``model.discriminator.<arg>``) for another receptive field,
            an unknown norm or non-positive sizes; in ``forward`` for x not (N, in_channels, H, W) or
            smaller than :attr:`min_input_size`.
    """

    def __init__(self, in_channels: int, receptive_field: int = 70, base_width: int = 64,
                 norm: str = "batch") -> None:
        super().__init__()
        check_int("model.discriminator.in_channels", in_channels, 1)
        check_int("model.discriminator.base_width", base_width, 1)
        check_norm(norm, "model.discriminator.norm")
        if receptive_field not in RECEPTIVE_FIELDS:
            raise ValueError(f"model.discriminator.receptive_field must be one of {sorted(RECEPTIVE_FIELDS)}, "
                             f"got model.discriminator.receptive_field={receptive_field!r}")
        self.in_channels = in_channels
        n_layers = RECEPTIVE_FIELDS[receptive_field]
        bias = conv_bias(norm)
        if n_layers is None:
            layers: list[nn.Module] = [
                nn.Conv2d(in_channels, base_width, 1), nn.LeakyReLU(0.2, True),
                nn.Conv2d(base_width, 2 * base_width, 1, bias=bias), make_norm2d(norm, 2 * base_width),
                nn.LeakyReLU(0.2, True),
                nn.Conv2d(2 * base_width, 1, 1),
            ]
            self.min_input_size = 1
        else:
            widths = [min(base_width * 2**i, base_width * 8) for i in range(n_layers + 1)]
            layers = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
            for i in range(1, n_layers + 1):
                stride = 2 if i < n_layers else 1
                layers += [nn.Conv2d(widths[i - 1], widths[i], 4, stride, 1, bias=bias), make_norm2d(norm, widths[i]),
                           nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))
            # n_layers stride-2 convs floor-halve the size, the two stride-1 convs take 1 each: need >= 3 left.
            self.min_input_size = 3 * 2**n_layers
        self.net = nn.Sequential(*layers)
        self.n_layers = n_layers
        self.receptive_field = receptive_field_of(self.net)
        assert self.receptive_field == receptive_field, (self.receptive_field, receptive_field)
        self.apply(normal_init_)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or min(x.shape[2:]) < self.min_input_size:
            raise ValueError(f"x must be (N, {self.in_channels}, H, W) with H, W >= {self.min_input_size} "
                             f"(receptive field {self.receptive_field}), got {tuple(x.shape)}")
        return self.net(x)
