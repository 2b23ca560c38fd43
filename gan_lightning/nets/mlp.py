"""Fully-connected generator / discriminator of the original GAN (Goodfellow et al. 2014)."""

from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor, nn


def _check_mlp_args(image_shape: Sequence[int], hidden_dims: Sequence[int], dropout: float) -> tuple[int, ...]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {tuple(image_shape)}")
    if not hidden_dims or min(hidden_dims) < 1:
        raise ValueError(f"hidden_dims must be a non-empty sequence of positive ints, got {tuple(hidden_dims)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return shape


class MLPGenerator(nn.Module):
    """MLP generator: z (N, latent_dim) -> image (N, C, H, W) in [-1, 1].

    Hidden layers are Linear + ReLU (the paper's "rectifier linear activations"), optionally
    followed by Dropout; the output is Linear -> Tanh reshaped to ``image_shape``.
    Default PyTorch init (the paper predates the DCGAN N(0, 0.02) scheme).

    Args:
        latent_dim: size of z, >= 1.
        image_shape: (C, H, W) of the generated images.
        hidden_dims: widths of the hidden layers.
        dropout: dropout after each hidden activation, in [0, 1); 0 disables it.
    Raises ValueError on invalid arguments. ``forward`` also accepts z of shape (N, latent_dim, 1, 1).
    """

    def __init__(
        self,
        latent_dim: int = 100,
        image_shape: Sequence[int] = (1, 28, 28),
        hidden_dims: Sequence[int] = (256, 512, 1024),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.image_shape = _check_mlp_args(image_shape, hidden_dims, dropout)
        self.latent_dim = int(latent_dim)
        layers: list[nn.Module] = []
        in_dim = self.latent_dim
        for h in hidden_dims:
            layers += [nn.Linear(in_dim, h), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = h
        layers += [nn.Linear(in_dim, math.prod(self.image_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.flatten(1)).view(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
    """MLP discriminator: image (N, C, H, W) -> raw logits (N,) (no sigmoid; losses take logits).

    Hidden layers are Linear + LeakyReLU(0.2) + Dropout. The paper uses maxout units with
    dropout; LeakyReLU is the common, simpler substitute.

    Args:
        image_shape: (C, H, W) of the input images.
        hidden_dims: widths of the hidden layers.
        dropout: dropout after each hidden activation, in [0, 1).
    Raises ValueError on invalid arguments.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        hidden_dims: Sequence[int] = (1024, 512, 256),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.image_shape = _check_mlp_args(image_shape, hidden_dims, dropout)
        layers: list[nn.Module] = [nn.Flatten()]
        in_dim = math.prod(self.image_shape)
        for h in hidden_dims:
            layers += [nn.Linear(in_dim, h), nn.LeakyReLU(0.2, inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(in_dim, 1)

    def features(self, x: Tensor) -> Tensor:
        """Last hidden layer activations, shape (N, hidden_dims[-1]) (for feature matching)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).squeeze(-1)
