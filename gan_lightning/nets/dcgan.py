"""DCGAN generator / discriminator (Radford et al. 2015, sec. 3 "architecture guidelines").

All-convolutional: strided convs in D, fractionally-strided convs in G, no pooling, no
fully-connected hidden layers, BatchNorm in G (except the output) and D (except the input),
ReLU + Tanh output in G, LeakyReLU(0.2) in D. z is a (N, latent_dim, 1, 1) map projected to
a ``base x base`` map (base 4, or 7 for 28/56/112), then doubled by stride-2 layers.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from gan_lightning.nets.init import normal_init_

# image_size = base * 2**n_up with n_up >= 2; capped at 128 to keep channel widths sane.
SUPPORTED_IMAGE_SIZES: tuple[int, ...] = (28, 32, 56, 64, 112, 128)


def _geometry(image_size: int) -> tuple[int, int]:
    """Return (base, n_up): the projected map size and the number of stride-2 layers."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {SUPPORTED_IMAGE_SIZES}, got image_size={image_size}")
    base = 7 if image_size % 7 == 0 else 4
    return base, int(math.log2(image_size // base))


def check_image_shape(x: Tensor, channels: int, image_size: int) -> None:
    """Raise ValueError unless ``x`` is (N, channels, image_size, image_size)."""
    expected = (channels, image_size, image_size)
    if x.dim() != 4 or tuple(x.shape[1:]) != expected:
        raise ValueError(f"x must be (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")


def _check_positive(**kwargs: int) -> None:
    for k, v in kwargs.items():
        if v < 1:
            raise ValueError(f"{k} must be >= 1, got {k}={v}")


class DCGANGenerator(nn.Module):
    """DCGAN generator: z (N, latent_dim) or (N, latent_dim, 1, 1) -> image (N, C, H, W) in [-1, 1].

    Layers (64x64, base_width=64): ConvT(z->512, k4) 4x4 -> 256 @8x8 -> 128 @16x16 ->
    64 @32x32 -> C @64x64 (Tanh). Widths halve at each upsampling, ending at ``base_width``.
    Weights use :func:`normal_init_` (N(0, 0.02), sec. 4).

    Args:
        latent_dim: size of z. channels: image channels C. image_size: H = W, one of
        ``SUPPORTED_IMAGE_SIZES`` (28, 32, 56, 64, 112, 128). base_width: width of the last hidden layer.
    Raises ValueError for an unsupported ``image_size`` or non-positive sizes.
    """

    # NHWC convolutions run 1.2 to 1.3x faster here on a 2-core CPU (docs/RESULTS.md); read by PerformanceOptions.
    prefers_channels_last = True

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 64, base_width: int = 64) -> None:
        super().__init__()
        _check_positive(latent_dim=latent_dim, channels=channels, base_width=base_width)
        base, n_up = _geometry(image_size)
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        width = base_width * 2 ** (n_up - 1)
        # Bias-free convs before BatchNorm: BN's shift makes the bias redundant.
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, base, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(normal_init_)

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        if z.dim() != 4 or z.shape[1:] != (self.latent_dim, 1, 1):
            raise ValueError(f"z must be (N, {self.latent_dim}) or (N, {self.latent_dim}, 1, 1), got {tuple(z.shape)}")
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: image (N, C, image_size, image_size) -> raw logits (N,) (no sigmoid).

    Mirror of :class:`DCGANGenerator`: stride-2 4x4 convs (C -> base_width -> 2x ... ), no
    BatchNorm on the input layer, LeakyReLU(0.2), then a ``base x base`` conv to a 1x1 map.
    Weights use :func:`normal_init_`.

    Args:
        channels: image channels C. image_size: one of ``SUPPORTED_IMAGE_SIZES``.
        base_width: width of the first conv layer.
    Raises ValueError for an unsupported ``image_size`` / non-positive sizes, and in
    ``forward``/``features`` for inputs whose shape is not (N, C, image_size, image_size).
    """

    prefers_channels_last = True  # as DCGANGenerator's

    def __init__(self, channels: int = 1, image_size: int = 64, base_width: int = 64) -> None:
        super().__init__()
        _check_positive(channels=channels, base_width=base_width)
        base, n_up = _geometry(image_size)
        self.channels, self.image_size = channels, image_size
        layers: list[nn.Module] = [nn.Conv2d(channels, base_width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = base_width
        for _ in range(n_up - 1):
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, True),
            ]
            width *= 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, base, 1, 0)
        self.feature_dim = width * base * base
        self.apply(normal_init_)

    def _hidden(self, x: Tensor) -> Tensor:
        check_image_shape(x, self.channels, self.image_size)
        return self.body(x)

    def features(self, x: Tensor) -> Tensor:
        """Last hidden feature map flattened, shape (N, feature_dim) (for feature matching)."""
        return self._hidden(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self._hidden(x)).flatten()
