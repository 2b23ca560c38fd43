"""ResNet generator of CycleGAN (Zhu et al. 2017, sec. 4 "Network architecture", appendix 7.2).

The architecture of Johnson et al. (2016): c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3,
reflection padding, instance norm, Tanh output. The paper uses 6 blocks at 128x128 and 9 at 256x256 and
higher resolution (appendix 7.2); :func:`default_n_blocks` picks that from the image size when the config
leaves ``n_blocks`` null.
"""

from __future__ import annotations

from torch import Tensor, nn

from gan_lightning.nets.init import normal_init_
from gan_lightning.nets.layers import check_dropout, check_int, check_norm, conv_bias, make_norm2d

PAPER_BLOCKS_SMALL, PAPER_BLOCKS_LARGE = 6, 9  # Zhu 2017, appendix 7.2: 128x128 (and below) / 256x256 (and above)


def default_n_blocks(image_size: int) -> int:
    """The paper's number of residual blocks for ``image_size`` x ``image_size`` training images (Zhu 2017,
    appendix 7.2: 6 residual blocks for 128x128 training images, 9 for 256x256 and higher resolutions): 9 at
    256 and above, else 6 (the paper gives no count below 128 or between 128 and 256; its 128x128 setting is
    used there).

    Raises:
        ValueError: ``image_size`` not an integer >= 1 (naming ``model.generator.image_size``).
    """
    check_int("model.generator.image_size", image_size, 1)
    return PAPER_BLOCKS_LARGE if image_size >= 256 else PAPER_BLOCKS_SMALL


class ResnetBlock(nn.Module):
    """Rk: x + (ReflectionPad 1 -> Conv3x3 -> Norm -> ReLU [-> Dropout] -> ReflectionPad 1 -> Conv3x3 -> Norm)(x),
    k channels in both convs. Shapes (N, k, H, W) -> (N, k, H, W)."""

    def __init__(self, channels: int, norm: str = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                                   make_norm2d(norm, channels), nn.ReLU(True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), make_norm2d(norm, channels)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN generator: x (N, in_channels, H, W) in [-1, 1] -> (N, out_channels, H, W) in [-1, 1].

    Appendix 7.2: c7s1-64 (ReflectionPad 3, 7x7 conv, norm, ReLU), d128, d256 (3x3 stride-2 convs,
    norm, ReLU), ``n_blocks`` residual blocks R256 (:class:`ResnetBlock`), u128, u64 (3x3 transposed
    convs, "stride 1/2", norm, ReLU), c7s1-out_channels (ReflectionPad 3, 7x7 conv) and Tanh. Widths
    scale with ``base_width`` (paper: 64). Fully convolutional: any H, W divisible by 4 (and >= 8)
    works. Weights use :func:`normal_init_` (N(0, 0.02), appendix 7.1).

    Args:
        in_channels / out_channels: image channels of x / of the output.
        n_blocks: residual blocks; None: :func:`default_n_blocks` of ``image_size`` (paper: 6 at 128x128,
            9 at 256x256). An explicit value wins over ``image_size``.
        image_size: side of the training images (``data.image_size``), read only when ``n_blocks`` is None;
            the network itself accepts any H, W (see below).
        base_width: channels of the first layer. norm: ``"instance"`` (paper) or ``"batch"``.
        dropout: dropout between the two convs of each residual block (0: none, as in the paper).

    Raises:
        ValueError: naming the config key (``model.generator.<arg>``) for ``n_blocks < 1``, both ``n_blocks``
            and ``image_size`` None, an unknown norm, dropout outside [0, 1) or non-positive sizes; in
            ``forward`` for x not (N, in_channels, H, W) with H, W multiples of 4 and >= 8.
    """

    def __init__(self, in_channels: int, out_channels: int, n_blocks: int | None = None, base_width: int = 64,
                 norm: str = "instance", dropout: float = 0.0, image_size: int | None = None) -> None:
        super().__init__()
        if n_blocks is None:
            if image_size is None:
                raise ValueError("model.generator.n_blocks is null and model.generator.image_size is not given: set "
                                 "n_blocks, or image_size to pick the paper's count (6 below 256, 9 at 256 and above).")
            n_blocks = default_n_blocks(image_size)
        for key, value in (("in_channels", in_channels), ("out_channels", out_channels), ("base_width", base_width),
                           ("n_blocks", n_blocks)):
            check_int(f"model.generator.{key}", value, 1)
        check_norm(norm, "model.generator.norm")
        check_dropout("model.generator.dropout", dropout)
        self.in_channels, self.out_channels, self.n_blocks = in_channels, out_channels, n_blocks
        bias = conv_bias(norm)
        w = base_width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, w, 7, bias=bias),
                                   make_norm2d(norm, w), nn.ReLU(True)]
        for _ in range(2):
            layers += [nn.Conv2d(w, 2 * w, 3, 2, 1, bias=bias), make_norm2d(norm, 2 * w), nn.ReLU(True)]
            w *= 2
        layers += [ResnetBlock(w, norm, dropout) for _ in range(n_blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(w, w // 2, 3, 2, 1, output_padding=1, bias=bias), make_norm2d(norm, w // 2),
                       nn.ReLU(True)]
            w //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(normal_init_)

    def forward(self, x: Tensor) -> Tensor:
        # Below 8 the 1x1 bottleneck breaks reflection padding and instance norm.
        if x.dim() != 4 or x.shape[1] != self.in_channels or any(s % 4 or s < 8 for s in x.shape[2:]):
            raise ValueError(f"x must be (N, {self.in_channels}, H, W) with H, W multiples of 4 and >= 8, "
                             f"got {tuple(x.shape)}")
        return self.net(x)
