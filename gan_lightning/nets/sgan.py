"""Networks of the semi-supervised GAN (Odena 2016; Salimans et al. 2016, sec. 5): the convolutional (K+1)-way
discriminator of Odena 2016, and the permutation-invariant MLPs of Salimans et al. 2016's MNIST experiment."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gan_lightning.nets.layers import GaussianNoise, WeightNormLinear, check_int, data_dependent_init_, signed_sigmoid

from gan_lightning.nets.dcgan import DCGANDiscriminator
from gan_lightning.nets.init import normal_init_


class SGANDiscriminator(nn.Module):
    """DCGAN conv body + a linear head with K+1 outputs: K real classes, then "generated".

    Odena (2016) builds the SGAN discriminator from the DCGAN one by giving it K+1 outputs; here the body
    is a :class:`DCGANDiscriminator` (stride-2 4x4 convs, BatchNorm except on the input layer,
    LeakyReLU(0.2)) whose single-logit head is replaced by ``Dropout -> Linear(feature_dim, K+1)``.
    The supervised baseline trains this same class, using only the first K outputs.

    Args:
        channels: image channels C.
        image_size: H = W, one of ``gan_lightning.nets.SUPPORTED_IMAGE_SIZES``.
        num_classes: number of real classes K (>= 1).
        base_width: width of the first conv layer.
        dropout: dropout probability on the features before the head (0 disables), a regulariser for the
            tiny labeled set (Salimans et al. 2016 regularise D with noise / dropout as well).

    Raises:
        ValueError: for ``num_classes < 1``, ``dropout`` outside [0, 1), an unsupported ``image_size``,
            and in ``forward`` / ``features`` for inputs that are not (N, C, image_size, image_size).
    """

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, base_width: int = 64,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got num_classes={num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}")
        self.body = DCGANDiscriminator(channels=channels, image_size=image_size, base_width=base_width)
        self.body.head = nn.Identity()  # its real/fake logit is replaced by the (K+1)-way head below
        self.channels, self.image_size, self.num_classes = channels, image_size, num_classes
        self.feature_dim = self.body.feature_dim
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_dim, num_classes + 1)
        normal_init_(self.head)

    def features(self, x: Tensor) -> Tensor:
        """Last hidden map flattened, (N, feature_dim), for images (N, C, H, W) in [-1, 1]; the layer
        feature matching uses (Salimans et al. 2016, sec. 3.1)."""
        return self.body.features(x)

    def logits_from_features(self, features: Tensor) -> Tensor:
        """Logits (N, K+1) from :meth:`features` output (N, feature_dim)."""
        return self.head(self.dropout(features))

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, K+1) for images (N, C, H, W) in [-1, 1]: K real classes, then "generated"."""
        return self.logits_from_features(self.features(x))


def _image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {tuple(image_shape)}")
    return shape  # type: ignore[return-value]


class SGANMLPDiscriminator(nn.Module):
    """The permutation-invariant MNIST discriminator of Salimans et al. 2016 (sec. 5; openai/improved-gan,
    ``train_mnist_feature_matching.py``): 784-1000-500-250-250-250-K with weight normalization, ReLU, additive
    Gaussian noise (sigma ``input_noise`` on the input, ``hidden_noise`` after every hidden layer) and no
    BatchNorm. The "generated" logit is fixed at 0 (sec. 5: D(x) = Z(x) / (Z(x) + 1)), so the output is
    (N, K+1) with a zero last column and the shared (K+1)-way losses apply unchanged; with
    ``generated_logit=False`` it is the K class logits (N, K) alone, for objectives without a "generated" class
    (CatGAN's).

    Images (N, C, H, W) in [-1, 1] are mapped to [0, 1] first, the scale the authors' noise levels refer to.
    Call :meth:`data_dependent_init` once on a batch before training (the authors use 500 train images).

    Args:
        image_shape: (C, H, W) of the inputs.
        num_classes: K (>= 1).
        hidden_dims: widths of the hidden layers.
        input_noise, hidden_noise: standard deviations of the Gaussian noise (>= 0), active in train mode only.
        init_std: std of the initial weight directions ``v``.
        generated_logit: append the constant "generated" logit 0 (SGAN) or not (CatGAN).

    Raises:
        ValueError: bad shapes, ``num_classes < 1``, empty ``hidden_dims`` or a negative noise level; in
            ``forward`` / ``features`` for inputs that are not (N, *image_shape).
    """

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                 hidden_dims: Sequence[int] = (1000, 500, 250, 250, 250), input_noise: float = 0.3,
                 hidden_noise: float = 0.5, init_std: float = 0.1, generated_logit: bool = True) -> None:
        super().__init__()
        self.image_shape = _image_shape(image_shape)
        self.generated_logit = bool(generated_logit)
        check_int("num_classes", num_classes, 1)
        if not hidden_dims:
            raise ValueError("hidden_dims must name at least one hidden layer, e.g. [1000, 500, 250, 250, 250]")
        self.num_classes = int(num_classes)
        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(input_noise)]
        width = math.prod(self.image_shape)
        for i, h in enumerate(hidden_dims):
            if i:
                layers.append(GaussianNoise(hidden_noise))
            layers += [WeightNormLinear(width, int(h), init_std=init_std), nn.ReLU()]
            width = int(h)
        self.body = nn.Sequential(*layers)
        self.feature_dim = width
        self.head_noise = GaussianNoise(hidden_noise)
        self.head = WeightNormLinear(width, self.num_classes, train_scale=True, init_std=init_std)

    def features(self, x: Tensor) -> Tensor:
        """Last hidden layer's ReLU output (N, feature_dim), before its noise: the layer the authors' feature
        matching uses (``layers[-3]``)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"expected images (N, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}")
        return self.body((x + 1) / 2)

    def logits_from_features(self, features: Tensor) -> Tensor:
        """Logits (N, K+1) from :meth:`features` output; the last column, "generated", is 0 (without it: (N, K))."""
        logits = self.head(self.head_noise(features))
        if not self.generated_logit:
            return logits
        return torch.cat([logits, logits.new_zeros(logits.shape[0], 1)], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, K+1) for images (N, C, H, W) in [-1, 1]: K real classes, then "generated" (always 0);
        (N, K) with ``generated_logit=False``."""
        return self.logits_from_features(self.features(x))

    def data_dependent_init(self, x: Tensor) -> None:
        """Initialize the weight-norm scales and biases from images ``x`` (N, C, H, W) in [-1, 1]
        (:func:`~gan_lightning.nets.layers.data_dependent_init_`), in the current train/eval mode."""
        data_dependent_init_(self, x)


class _BatchNormShift(nn.Module):
    """BatchNorm without a scale, with a learned shift: the ``nn.batch_norm(..., g=None)`` of the authors' G."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(width, affine=False, eps=1e-6)
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x) + self.bias


class SGANMLPGenerator(nn.Module):
    """The MNIST generator of Salimans et al. 2016 (openai/improved-gan, ``train_mnist_feature_matching.py``):
    z ~ U(0, 1)^latent_dim -> [Linear -> BatchNorm (no scale, learned shift) -> softplus] x 2 (500, 500) ->
    weight-normalized Linear (trained scale) -> sigmoid, mapped to [-1, 1] as ``2 * sigmoid - 1``.

    Output (N, C, H, W) in [-1, 1]. ``latent_distribution = "uniform"`` tells the model to draw z ~ U(0, 1).

    Raises:
        ValueError: ``latent_dim < 1``, bad ``image_shape`` or empty ``hidden_dims``.
    """

    latent_distribution = "uniform"

    def __init__(self, latent_dim: int = 100, image_shape: Sequence[int] = (1, 28, 28),
                 hidden_dims: Sequence[int] = (500, 500)) -> None:
        super().__init__()
        check_int("latent_dim", latent_dim, 1)
        self.image_shape = _image_shape(image_shape)
        if not hidden_dims:
            raise ValueError("hidden_dims must name at least one hidden layer, e.g. [500, 500]")
        self.latent_dim = int(latent_dim)
        layers: list[nn.Module] = []
        width = self.latent_dim
        for h in hidden_dims:
            linear = nn.Linear(width, int(h), bias=False)  # BatchNorm's shift is the bias
            nn.init.xavier_uniform_(linear.weight)  # Lasagne's default (Glorot uniform)
            layers += [linear, _BatchNormShift(int(h)), nn.Softplus()]
            width = int(h)
        self.body = nn.Sequential(*layers)
        self.out = WeightNormLinear(width, math.prod(self.image_shape), train_scale=True)

    def forward(self, z: Tensor) -> Tensor:
        return signed_sigmoid(self.out(self.body(z.flatten(1)))).view(z.shape[0], *self.image_shape)
