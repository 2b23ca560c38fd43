"""ACGAN discriminator (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs").

D sees the image only (no label input, unlike the cGAN's D) and has two heads on one body (sec. 3): a source logit
(real vs. fake, P(S | X)) and K class logits (P(C | X)). The body and the source head are a
:class:`~gan_lightning.nets.dcgan.DCGANDiscriminator`; the class head is one linear layer on its last hidden
features. The generator is the cGAN's :class:`~gan_lightning.nets.conditional.ConditionalDCGANGenerator`
(G(z, c): a class embedding concatenated with z), so this file holds only D.
"""

from __future__ import annotations

from torch import Tensor, nn

from gan_lightning.nets.dcgan import DCGANDiscriminator


class ACGANDiscriminator(nn.Module):
    """D with an auxiliary classifier: x (N, C, image_size, image_size) -> (source logits (N,), class logits (N, K)).

    Both are raw logits (no sigmoid / softmax: the adversarial losses and the cross-entropy take logits).

    Args:
        num_classes: K (>= 2). channels, image_size, base_width: as :class:`DCGANDiscriminator`.
    Raises:
        ValueError: ``num_classes < 2``, or (from DCGANDiscriminator) non-positive sizes or an unsupported
            ``image_size``; in ``forward``, x not (N, channels, image_size, image_size).
    """

    def __init__(self, num_classes: int = 10, channels: int = 1, image_size: int = 28, base_width: int = 64) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got num_classes={num_classes!r}")
        self.num_classes, self.channels, self.image_size = num_classes, channels, image_size
        self.net = DCGANDiscriminator(channels, image_size, base_width)
        self.feature_dim = self.net.feature_dim
        self.class_head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Last hidden feature map flattened, shape (N, feature_dim), shared by both heads."""
        return self.net.features(x)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.net._hidden(x)  # one pass of the body for both heads
        return self.net.head(hidden).flatten(), self.class_head(hidden.flatten(1))


__all__ = ["ACGANDiscriminator"]
