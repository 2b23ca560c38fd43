"""Fully-connected generator / discriminator of the original GAN (Goodfellow et al. 2014)."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from gan_lightning.nets.layers import Maxout, MinibatchStdDev, marginal_output_bias, signed_sigmoid, uniform_init_


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
    Default PyTorch init (the paper predates the DCGAN N(0, 0.02) scheme). ``batch_norm`` and
    ``negative_slope`` give the modern MLP generator (BatchNorm after each hidden Linear but the first, as
    DCGAN leaves the input layer without it, and LeakyReLU; Radford et al. 2015, sec. 3); ``norm_first`` puts
    BatchNorm after the first hidden Linear too (the CatGAN MLP generator, `conf/model/catgan_mlp.yaml`).

    Args:
        latent_dim: size of z, >= 1.
        image_shape: (C, H, W) of the generated images.
        hidden_dims: widths of the hidden layers.
        dropout: dropout after each hidden activation, in [0, 1); 0 disables it.
        batch_norm: BatchNorm1d after every hidden Linear except the first.
        norm_first: with ``batch_norm``, BatchNorm1d after the first hidden Linear as well.
        negative_slope: slope of the hidden activations for x < 0 (0: ReLU; 0.2: LeakyReLU).
        output: ``"tanh"``, or ``"sigmoid"`` (the paper's output units, mapped to [-1, 1] as ``2 sigmoid - 1``;
            :meth:`data_dependent_init` then sets the output bias to the logits of the mean pixel values, as the
            authors' code does).
        init_range: weights ~ U(-init_range, init_range) and zero biases (pylearn2's ``irange``; 0.05 in the
            paper's code); None keeps PyTorch's default init.
        latent_distribution: the prior of z the model draws from (``"normal"``, ``"uniform"`` U(0, 1), or
            ``"uniform_centered"`` U(-sqrt 3, sqrt 3), the authors' unit-variance uniform noise).
        marginal_output_bias: with ``output="tanh"``, :meth:`data_dependent_init` sets the output bias too, so
            that G starts at the mean image (the authors' sigmoid init carried over: ``tanh(a) = 2 sigmoid(2a) - 1``,
            bias = logit(mean) / 2). Sigmoid outputs always get it.
    Raises ValueError on invalid arguments. ``forward`` also accepts z of shape (N, latent_dim, 1, 1).
    """

    def __init__(
        self,
        latent_dim: int = 100,
        image_shape: Sequence[int] = (1, 28, 28),
        hidden_dims: Sequence[int] = (256, 512, 1024),
        dropout: float = 0.0,
        batch_norm: bool = False,
        negative_slope: float = 0.0,
        output: str = "tanh",
        init_range: float | None = None,
        latent_distribution: str = "normal",
        norm_first: bool = False,
        marginal_output_bias: bool = False,
    ) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        if not negative_slope >= 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope}")
        if output not in ("tanh", "sigmoid"):
            raise ValueError(f"output must be 'tanh' or 'sigmoid', got {output!r}")
        if init_range is not None and not init_range > 0:
            raise ValueError(f"init_range must be > 0 or None, got {init_range}")
        self.output, self.latent_distribution = output, str(latent_distribution)
        self.marginal_output_bias = output == "sigmoid" or bool(marginal_output_bias)
        self.image_shape = _check_mlp_args(image_shape, hidden_dims, dropout)
        self.latent_dim = int(latent_dim)
        layers: list[nn.Module] = []
        in_dim = self.latent_dim
        for i, h in enumerate(hidden_dims):
            act = nn.LeakyReLU(negative_slope, inplace=True) if negative_slope else nn.ReLU(inplace=True)
            norm = [nn.BatchNorm1d(h)] if batch_norm and (i or norm_first) else []
            layers += [nn.Linear(in_dim, h), *norm, act]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = h
        self.net = nn.Sequential(*layers)
        self.out = nn.Linear(in_dim, math.prod(self.image_shape))
        if init_range is not None:
            uniform_init_(self, init_range)

    def forward(self, z: Tensor) -> Tensor:
        a = self.out(self.net(z.flatten(1)))
        x = torch.tanh(a) if self.output == "tanh" else signed_sigmoid(a)
        return x.view(z.shape[0], *self.image_shape)

    @torch.no_grad()
    def data_dependent_init(self, images: Tensor) -> None:
        """Output bias = logit of each pixel's mean over ``images`` (N, C, H, W) in [-1, 1], mapped to [0, 1] and
        clipped to [1e-7, 1 - 1e-7] (pylearn2's ``init_sigmoid_bias_from_marginals``), halved for a tanh output;
        nothing unless ``marginal_output_bias`` (always on for sigmoid)."""
        if self.marginal_output_bias:
            self.out.bias.copy_(marginal_output_bias(images, self.output))


class MLPDiscriminator(nn.Module):
    """MLP discriminator: image (N, C, H, W) -> raw logits (N,) (no sigmoid; losses take logits).

    Hidden layers are Linear + LeakyReLU(0.2) + Dropout. The paper uses maxout units with
    dropout; LeakyReLU is the common, simpler substitute.

    Args:
        image_shape: (C, H, W) of the input images.
        hidden_dims: widths of the hidden layers.
        dropout: dropout after each hidden activation, in [0, 1).
        spectral_norm: divide every Linear's weight by its largest singular value, estimated by one power
            iteration per training forward (Miyato et al. 2018, "Spectral Normalization for GANs", sec. 2.1).
        minibatch_std: append the minibatch standard deviation of the last hidden features before the logit
            (:class:`~gan_lightning.nets.layers.MinibatchStdDev`, Karras et al. 2018, sec. 3).
    Raises ValueError on invalid arguments.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        hidden_dims: Sequence[int] = (1024, 512, 256),
        dropout: float = 0.3,
        spectral_norm: bool = False,
        minibatch_std: bool = False,
    ) -> None:
        super().__init__()
        self.image_shape = _check_mlp_args(image_shape, hidden_dims, dropout)
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = [nn.Flatten()]
        in_dim = math.prod(self.image_shape)
        for h in hidden_dims:
            layers += [sn(nn.Linear(in_dim, h)), nn.LeakyReLU(0.2, inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = h
        self.body = nn.Sequential(*layers)
        self.mbstd = MinibatchStdDev() if minibatch_std else nn.Identity()
        self.head = sn(nn.Linear(in_dim + int(minibatch_std), 1))

    def features(self, x: Tensor) -> Tensor:
        """Last hidden layer activations, shape (N, hidden_dims[-1]) (for feature matching)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.mbstd(self.features(x))).squeeze(-1)


class MaxoutMLPDiscriminator(nn.Module):
    """The discriminator of Goodfellow et al. 2014 (authors' code, goodfeli/adversarial ``mnist.yaml``): maxout
    layers (240 units x 5 pieces, twice) and one logit, with dropout on the input (keep 0.8) and on every hidden
    layer's output (keep 0.5). Image (N, C, H, W) in [-1, 1] -> logit (N,), the input mapped to [0, 1] first
    (the scale of the authors' data).

    Args:
        image_shape: (C, H, W) of the inputs.
        hidden_units, pieces: maxout units and pieces per hidden layer (same length).
        input_dropout, dropout: drop probabilities of the input and of the hidden layers' outputs, in [0, 1).
        init_range: weights ~ U(-init_range, init_range) (0.005 in the authors' code), biases 0.

    Raises:
        ValueError: bad shapes, ``hidden_units`` and ``pieces`` of different lengths, bad dropout or init range.
    """

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), hidden_units: Sequence[int] = (240, 240),
                 pieces: Sequence[int] = (5, 5), input_dropout: float = 0.2, dropout: float = 0.5,
                 init_range: float = 0.005) -> None:
        super().__init__()
        self.image_shape = _check_mlp_args(image_shape, hidden_units, dropout)
        if len(pieces) != len(hidden_units):
            raise ValueError(f"pieces must give one count per hidden layer, got {tuple(pieces)} for {tuple(hidden_units)}")
        if not 0.0 <= input_dropout < 1.0:
            raise ValueError(f"input_dropout must be in [0, 1), got {input_dropout}")
        if not init_range > 0:
            raise ValueError(f"init_range must be > 0, got {init_range}")
        layers: list[nn.Module] = [nn.Flatten(), nn.Dropout(input_dropout)]
        in_dim = math.prod(self.image_shape)
        for units, k in zip(hidden_units, pieces):
            layers += [Maxout(in_dim, int(units), int(k)), nn.Dropout(dropout)]
            in_dim = int(units)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(in_dim, 1)
        uniform_init_(self, init_range)

    def features(self, x: Tensor) -> Tensor:
        """Last hidden layer (after its dropout), (N, hidden_units[-1])."""
        return self.body((x + 1) / 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).squeeze(-1)
