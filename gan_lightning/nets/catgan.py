"""CatGAN discriminators: K-way classifiers without a "fake" class (Springenberg 2016, sec. 3).

* :class:`CatGANDiscriminator`: DCGAN's conv body (Radford et al. 2015): stride-2 4x4 convs, BatchNorm except on
  the input layer, LeakyReLU(0.2); only the head differs: a ``base x base`` conv to K class logits instead of 1.
* :class:`CatGANMLPDiscriminator`: the permutation-invariant MNIST MLP (784-1000-500-250-250-250-K, BatchNorm,
  LeakyReLU(0.1), Gaussian noise), as in the Chainer reimplementation smayru/catgan (``catgan_train.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from gan_lightning.nets.dcgan import DCGANDiscriminator, check_image_shape
from gan_lightning.nets.init import normal_init_
from gan_lightning.nets.layers import FeatureAffine, GaussianNoise, check_int

NOISE_POSITIONS = ("pre_norm", "post_norm")


class CatGANDiscriminator(nn.Module):
    """Image (N, C, image_size, image_size) in [-1, 1] -> class logits (N, num_classes) (no softmax).

    Args:
        channels: image channels C.
        image_size: H = W, one of ``gan_lightning.nets.dcgan.SUPPORTED_IMAGE_SIZES``.
        num_classes: K, the number of categories D splits the data into (>= 2).
        base_width: width of the first conv layer (doubles at every stride-2 layer).
        dropout: dropout probability on the last feature map before the head (0 disables).

    Raises:
        ValueError: unsupported ``image_size``, non-positive sizes, ``num_classes < 2`` or ``dropout``
            outside [0, 1); in ``forward`` / ``features`` for inputs not shaped (N, C, image_size, image_size).
    """

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, base_width: int = 64,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got num_classes={num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}")
        trunk = DCGANDiscriminator(channels=channels, image_size=image_size, base_width=base_width)
        self.channels, self.image_size, self.num_classes = channels, image_size, num_classes
        self.body = trunk.body  # DCGAN's conv layers (already initialised); its 1-logit head is dropped
        self.feature_dim = trunk.feature_dim
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        base = trunk.head.kernel_size
        self.head = nn.Conv2d(trunk.head.in_channels, num_classes, base, 1, 0)
        normal_init_(self.head)

    def _hidden(self, x: Tensor) -> Tensor:
        check_image_shape(x, self.channels, self.image_size)
        return self.body(x)

    def features(self, x: Tensor) -> Tensor:
        """Last hidden feature map flattened, shape (N, feature_dim)."""
        return self._hidden(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self._hidden(x))).flatten(1)


class CatGANMLPDiscriminator(nn.Module):
    """Permutation-invariant MLP classifier: image (N, C, H, W) in [-1, 1] -> class logits (N, num_classes).

    The input is mapped to [0, 1] (the scale the noise level refers to), flattened and given Gaussian noise of
    std ``input_noise``; each hidden layer is ``Linear -> + N(0, hidden_noise^2) -> BatchNorm1d ->
    LeakyReLU(negative_slope)`` (``noise_position="pre_norm"``), or ``Linear -> BatchNorm1d without affine ->
    + N(0, hidden_noise^2) -> learned scale and shift -> LeakyReLU`` (``"post_norm"``: the ladder network's
    placement, Rasmus et al. 2015, where D cannot shrink the noise by growing its weights), and a plain Linear
    gives the K logits. The noise acts in train mode only. The
    layout (784-1000-500-250-250-250-10, noise std 0.3 on the input and on every hidden pre-activation, slope
    0.1) is the Chainer reimplementation smayru/catgan's (``catgan_train.py``: ``F.gaussian`` with log-variance
    log 0.09); the CatGAN paper's own appendix could not be read here.

    Args:
        image_shape: (C, H, W) of the inputs.
        num_classes: K (>= 2).
        hidden_dims: widths of the hidden layers (non-empty, positive).
        input_noise, hidden_noise: noise standard deviations (>= 0).
        negative_slope: LeakyReLU slope for x < 0 (>= 0).
        noise_position: ``"pre_norm"`` or ``"post_norm"``, where the hidden noise is added (above).

    Raises:
        ValueError: bad shapes, ``num_classes < 2``, empty ``hidden_dims``, negative noise or slope, an unknown
            ``noise_position``; in
            ``forward`` / ``features`` for inputs that are not (N, *image_shape).
    """

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                 hidden_dims: Sequence[int] = (1000, 500, 250, 250, 250), input_noise: float = 0.3,
                 hidden_noise: float = 0.3, negative_slope: float = 0.1, noise_position: str = "pre_norm") -> None:
        super().__init__()
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {tuple(image_shape)}")
        check_int("num_classes", num_classes, 2)
        if not hidden_dims or min(hidden_dims) < 1:
            raise ValueError(f"hidden_dims must be a non-empty sequence of positive ints, got {tuple(hidden_dims)}")
        if not negative_slope >= 0:
            raise ValueError(f"negative_slope must be >= 0, got negative_slope={negative_slope!r}")
        if noise_position not in NOISE_POSITIONS:
            raise ValueError(f"noise_position must be one of {NOISE_POSITIONS}, got {noise_position!r}")
        self.image_shape, self.num_classes = shape, int(num_classes)
        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(input_noise)]
        width = math.prod(shape)
        for h in map(int, hidden_dims):
            if noise_position == "pre_norm":
                layers += [nn.Linear(width, h), GaussianNoise(hidden_noise), nn.BatchNorm1d(h)]
            else:
                layers += [nn.Linear(width, h), nn.BatchNorm1d(h, affine=False), GaussianNoise(hidden_noise),
                           FeatureAffine(h)]
            layers.append(nn.LeakyReLU(negative_slope))
            width = h
        self.body = nn.Sequential(*layers)
        self.feature_dim = width
        self.head = nn.Linear(width, self.num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Last hidden layer's activations (N, feature_dim) for images (N, C, H, W) in [-1, 1]."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"expected images (N, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}")
        return self.body((x + 1) / 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
