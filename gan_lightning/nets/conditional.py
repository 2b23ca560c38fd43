"""Class-conditional generators / discriminators for cGAN (Mirza & Osindero 2014, "Conditional GANs").

The class label y is an extra input of both networks: G(z, y) and D(x, y) (sec. 3.2, eq. 2).

* :class:`ConditionalMLPGenerator` / :class:`ConditionalMLPDiscriminator`: the paper's MNIST networks
  (sec. 4.1), y one-hot and "concatenated into the hidden layers".
* :class:`ConditionalDCGANGenerator` / :class:`ConditionalDCGANDiscriminator`: DCGAN convnets
  (Radford et al. 2015) with the label added at the input: a learned embedding (or a one-hot vector)
  concatenated with z in G, K one-hot label maps concatenated with the image channels in D. They wrap
  :class:`~gan_lightning.nets.dcgan.DCGANGenerator` / :class:`~gan_lightning.nets.dcgan.DCGANDiscriminator`.

Labels are int64 class indices of shape (N,) with values in [0, num_classes).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lightning.nets.layers import Maxout, SignedSigmoid, marginal_output_bias, uniform_init_

LABEL_EMBEDDINGS: tuple[str, ...] = ("embedding", "one_hot")


def _check_sizes(**kwargs: int) -> None:
    for k, v in kwargs.items():
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{k} must be an integer >= 1, got {k}={v!r}")


def _check_labels(y: Tensor, n: int) -> None:
    # Only shape and dtype: a range check would force a host-device sync every step. Out-of-range
    # labels still fail, in F.one_hot (RuntimeError) or nn.Embedding (IndexError).
    if y.dim() != 1 or y.shape[0] != n or y.dtype != torch.long:
        raise ValueError(f"y must be int64 class indices of shape ({n},), got {tuple(y.shape)} {y.dtype}")


def _one_hot(y: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    return F.one_hot(y, num_classes).to(dtype)


class ConditionalMLPGenerator(nn.Module):
    """cGAN MLP generator (Mirza & Osindero 2014, sec. 4.1): (z (N, latent_dim), y (N,)) -> (N, C, H, W) in [-1, 1].

    z -> ``z_hidden`` (paper: 200) and one-hot y -> ``y_hidden`` (paper: 1000) units, each Linear + ReLU;
    the two are concatenated and mapped to a combined ReLU layer of ``combined_hidden`` units (paper: 1200),
    then Linear -> Tanh, or the paper's sigmoid mapped to [-1, 1] (``output="sigmoid"``: ``2 sigmoid - 1``).
    Optional dropout after every hidden layer (the paper applies 0.5 to G and D). Default PyTorch init.

    Args:
        latent_dim: size of z. num_classes: K. image_shape: (C, H, W) of the output.
        z_hidden, y_hidden, combined_hidden: layer widths. dropout: in [0, 1).
        output: ``"tanh"`` or ``"sigmoid"``.
        init_range: weights ~ U(-init_range, init_range), biases 0 (pylearn2's ``irange``); None: PyTorch's init.
        latent_distribution: the prior of z the model draws from (``"uniform"``: U(0, 1), the paper's "uniform
            distribution within the unit hypercube"; ``"normal"``).
        marginal_output_bias: :meth:`data_dependent_init` sets the output bias from the pixel marginals, so that
            G starts at the mean image (:func:`~gan_lightning.nets.layers.marginal_output_bias`; Goodfellow 2014's
            code, which the paper's builds on; the paper does not say).
    Raises:
        ValueError: non-positive sizes, a bad ``image_shape`` or ``dropout``; in ``forward``, z not
            (N, latent_dim) / (N, latent_dim, 1, 1) or y not int64 (N,).
    """

    def __init__(
        self,
        latent_dim: int = 100,
        num_classes: int = 10,
        image_shape: Sequence[int] = (1, 28, 28),
        z_hidden: int = 200,
        y_hidden: int = 1000,
        combined_hidden: int = 1200,
        dropout: float = 0.0,
        output: str = "tanh",
        init_range: float | None = None,
        latent_distribution: str = "normal",
        marginal_output_bias: bool = False,
    ) -> None:
        super().__init__()
        _check_sizes(latent_dim=latent_dim, num_classes=num_classes, z_hidden=z_hidden, y_hidden=y_hidden,
                     combined_hidden=combined_hidden)
        self.image_shape = _check_shape_and_dropout(image_shape, dropout)
        if output not in ("tanh", "sigmoid"):
            raise ValueError(f"output must be 'tanh' or 'sigmoid', got {output!r}")
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.latent_distribution = str(latent_distribution)
        self.output, self.marginal_output_bias = output, bool(marginal_output_bias)
        drop = [nn.Dropout(dropout)] if dropout > 0 else []
        self.z_branch = nn.Sequential(nn.Linear(latent_dim, z_hidden), nn.ReLU(True), *drop)
        self.y_branch = nn.Sequential(nn.Linear(num_classes, y_hidden), nn.ReLU(True), *drop)
        self.joint = nn.Sequential(
            nn.Linear(z_hidden + y_hidden, combined_hidden), nn.ReLU(True), *drop,
            nn.Linear(combined_hidden, math.prod(self.image_shape)),
            nn.Tanh() if output == "tanh" else SignedSigmoid(),
        )
        if init_range is not None:
            uniform_init_(self, init_range)

    @torch.no_grad()
    def data_dependent_init(self, images: Tensor) -> None:
        """With ``marginal_output_bias``: the output bias from ``images`` (N, C, H, W) in [-1, 1]; else nothing."""
        if self.marginal_output_bias:
            self.joint[-2].bias.copy_(marginal_output_bias(images, self.output))

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        z = z.flatten(1)
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (N, {self.latent_dim}) or (N, {self.latent_dim}, 1, 1), got {tuple(z.shape)}")
        _check_labels(y, z.shape[0])
        h = torch.cat([self.z_branch(z), self.y_branch(_one_hot(y, self.num_classes, z.dtype))], dim=1)
        return self.joint(h).view(z.shape[0], *self.image_shape)


class ConditionalMLPDiscriminator(nn.Module):
    """cGAN MLP discriminator (Mirza & Osindero 2014, sec. 4.1): (x (N, C, H, W), y (N,)) -> logits (N,).

    x -> ``x_hidden`` (paper: 240) and one-hot y -> ``y_hidden`` (paper: 50) units, concatenated into a joint
    layer of ``combined_hidden`` units (paper: 240), then one logit (no sigmoid: the losses take logits).
    With ``pieces`` (the paper: 5, 5 and 4) the hidden units are the paper's maxout units; without, LeakyReLU(0.2),
    the substitute also used by :class:`~gan_lightning.nets.mlp.MLPDiscriminator`. Dropout follows every hidden
    layer.

    Args:
        num_classes: K. image_shape: (C, H, W) of the input. x_hidden, y_hidden, combined_hidden: widths.
        dropout: after every hidden layer, in [0, 1) (paper: 0.5).
        pieces: maxout pieces of the x, y and joint layers (three ints), or None for LeakyReLU units.
        init_range: weights ~ U(-init_range, init_range), biases 0 (pylearn2's ``irange``); None: PyTorch's init.
        unit_range_input: map x from [-1, 1] to [0, 1] before the first layer, the pixel scale of the paper's
            pylearn2 MNIST. In [-1, 1] the black background sits at -1, and an MNIST image's norm is about 3
            times its norm in [0, 1].
    Raises:
        ValueError: non-positive sizes, a bad ``image_shape`` or ``dropout``; in ``forward``, x not
            (N, C, H, W) or y not int64 (N,).
    """

    def __init__(
        self,
        num_classes: int = 10,
        image_shape: Sequence[int] = (1, 28, 28),
        x_hidden: int = 240,
        y_hidden: int = 50,
        combined_hidden: int = 240,
        dropout: float = 0.5,
        pieces: Sequence[int] | None = None,
        init_range: float | None = None,
        unit_range_input: bool = False,
    ) -> None:
        super().__init__()
        _check_sizes(num_classes=num_classes, x_hidden=x_hidden, y_hidden=y_hidden, combined_hidden=combined_hidden)
        self.image_shape = _check_shape_and_dropout(image_shape, dropout)
        self.num_classes = num_classes
        self.unit_range_input = unit_range_input
        if pieces is not None and (len(pieces) != 3 or min(pieces) < 1):
            raise ValueError(f"pieces must be three positive ints (x, y, joint layers), got {pieces!r}")

        def layer(i: int, n_in: int, n_out: int) -> list[nn.Module]:
            unit = [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2, True)] if pieces is None else [Maxout(n_in, n_out, pieces[i])]
            return unit + ([nn.Dropout(dropout)] if dropout > 0 else [])

        self.x_branch = nn.Sequential(nn.Flatten(), *layer(0, math.prod(self.image_shape), x_hidden))
        self.y_branch = nn.Sequential(*layer(1, num_classes, y_hidden))
        self.joint = nn.Sequential(*layer(2, x_hidden + y_hidden, combined_hidden))
        self.head = nn.Linear(combined_hidden, 1)
        if init_range is not None:
            uniform_init_(self, init_range)

    def features(self, x: Tensor, y: Tensor) -> Tensor:
        """Joint hidden layer, shape (N, combined_hidden)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"x must be (N, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}")
        _check_labels(y, x.shape[0])
        if self.unit_range_input:
            x = (x + 1) / 2
        h = torch.cat([self.x_branch(x), self.y_branch(_one_hot(y, self.num_classes, x.dtype))], dim=1)
        return self.joint(h)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.head(self.features(x, y)).squeeze(-1)


class ConditionalDCGANGenerator(nn.Module):
    """DCGAN generator conditioned on y: (z (N, latent_dim), y (N,)) -> image (N, C, H, W) in [-1, 1].

    The label code -- a learned ``nn.Embedding(num_classes, embedding_dim)`` (``label_embedding="embedding"``)
    or the one-hot vector (``"one_hot"``, size K) -- is concatenated with z and fed to a
    :class:`~gan_lightning.nets.dcgan.DCGANGenerator` whose input size is ``latent_dim + code size``
    (the cGAN "y concatenated with the input", Mirza & Osindero 2014, sec. 3.2). The embedding keeps
    PyTorch's N(0, 1) init, the scale of z.

    Args:
        latent_dim: size of z. num_classes: K. channels, image_size, base_width: as DCGANGenerator.
        label_embedding: "embedding" or "one_hot". embedding_dim: embedding size (None: K); unused for one_hot.
    Raises:
        ValueError: unknown ``label_embedding``, non-positive sizes or an unsupported ``image_size``; in
            ``forward``, z not (N, latent_dim) / (N, latent_dim, 1, 1) or y not int64 (N,).
    """

    def __init__(
        self,
        latent_dim: int = 100,
        num_classes: int = 10,
        channels: int = 1,
        image_size: int = 28,
        base_width: int = 64,
        label_embedding: str = "embedding",
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        if label_embedding not in LABEL_EMBEDDINGS:
            raise ValueError(f"label_embedding must be one of {LABEL_EMBEDDINGS}, got label_embedding={label_embedding!r}")
        embedding_dim = num_classes if embedding_dim is None or label_embedding == "one_hot" else embedding_dim
        _check_sizes(latent_dim=latent_dim, num_classes=num_classes, embedding_dim=embedding_dim)
        self.latent_dim, self.num_classes, self.label_embedding = latent_dim, num_classes, label_embedding
        self.channels, self.image_size = channels, image_size
        self.embedding = nn.Embedding(num_classes, embedding_dim) if label_embedding == "embedding" else None
        self.net = DCGANGenerator(latent_dim + embedding_dim, channels, image_size, base_width)

    def label_code(self, y: Tensor) -> Tensor:
        """The label part of G's input, (N, embedding_dim) or (N, K)."""
        return self.embedding(y) if self.embedding is not None else _one_hot(y, self.num_classes, torch.float32)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        if z.dim() == 4 and z.shape[2:] == (1, 1):
            z = z.flatten(1)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (N, {self.latent_dim}) or (N, {self.latent_dim}, 1, 1), got {tuple(z.shape)}")
        _check_labels(y, z.shape[0])
        return self.net(torch.cat([z, self.label_code(y).to(z.dtype)], dim=1))


class ConditionalDCGANDiscriminator(nn.Module):
    """DCGAN discriminator conditioned on y: (x (N, C, H, W), y (N,)) -> logits (N,).

    K one-hot label maps (channel y set to 1 over the whole H x W plane) are concatenated with the image
    channels at the input, and a :class:`~gan_lightning.nets.dcgan.DCGANDiscriminator` with C + K input
    channels does the rest (stride-2 convs, BatchNorm except at the input, LeakyReLU(0.2), no sigmoid).

    Args:
        num_classes: K. channels: image channels C. image_size, base_width: as DCGANDiscriminator.
    Raises:
        ValueError: non-positive sizes or an unsupported ``image_size``; in ``forward`` / ``features``,
            x not (N, C, image_size, image_size) or y not int64 (N,).
    """

    def __init__(self, num_classes: int = 10, channels: int = 1, image_size: int = 28, base_width: int = 64) -> None:
        super().__init__()
        _check_sizes(num_classes=num_classes, channels=channels)
        self.num_classes, self.channels, self.image_size = num_classes, channels, image_size
        self.net = DCGANDiscriminator(channels + num_classes, image_size, base_width)
        self.feature_dim = self.net.feature_dim

    def _with_label_maps(self, x: Tensor, y: Tensor) -> Tensor:
        expected = (self.channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must be (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        _check_labels(y, x.shape[0])
        maps = _one_hot(y, self.num_classes, x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return torch.cat([x, maps], dim=1)

    def features(self, x: Tensor, y: Tensor) -> Tensor:
        """Last hidden feature map flattened, shape (N, feature_dim)."""
        return self.net.features(self._with_label_maps(x, y))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.net(self._with_label_maps(x, y))


def _check_shape_and_dropout(image_shape: Sequence[int], dropout: float) -> tuple[int, ...]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {tuple(image_shape)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}")
    return shape
