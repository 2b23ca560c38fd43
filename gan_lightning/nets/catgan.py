"""CatGAN discriminator: a K-way classifier without a "fake" class (Springenberg 2016, sec. 3).

The conv body is DCGAN's (Radford et al. 2015): stride-2 4x4 convs, BatchNorm except on the input
layer, LeakyReLU(0.2); only the head differs: a ``base x base`` conv to K class logits instead of 1.
"""

from __future__ import annotations

from torch import Tensor, nn

from gan_lightning.nets.dcgan import DCGANDiscriminator, check_image_shape
from gan_lightning.nets.init import normal_init_


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
