"""(K+1)-way discriminator of the semi-supervised GAN (Odena 2016; Salimans et al. 2016, sec. 5)."""

from __future__ import annotations

from torch import Tensor, nn

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
