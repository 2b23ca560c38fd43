"""Small CNN trained on the real data; its features stand in for Inception in the offline domain FID / IS."""

from __future__ import annotations

from torch import Tensor, nn


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class DomainClassifier(nn.Module):
    """Two VGG-style conv stages + a ``feature_dim`` hidden layer + a linear classifier head.

    Args:
        channels: input channels C.
        num_classes: number of classes K.
        image_size: nominal input side H = W (28, 32 or 64); the adaptive pool makes any size >= 4 work.
        width: channels of the first stage (the second stage uses ``2 * width``).
        feature_dim: size of the penultimate layer returned by :meth:`features`.

    Inputs are images (N, C, H, W) with values in [-1, 1], the range the GANs generate.
    """

    def __init__(self, channels: int = 1, num_classes: int = 10, image_size: int = 28, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.config = dict(channels=channels, num_classes=num_classes, image_size=image_size, width=width, feature_dim=feature_dim)
        self.channels, self.num_classes, self.image_size, self.feature_dim = channels, num_classes, image_size, feature_dim
        self.body = nn.Sequential(
            *_conv_bn_relu(channels, width), *_conv_bn_relu(width, width), nn.MaxPool2d(2),
            *_conv_bn_relu(width, 2 * width), *_conv_bn_relu(2 * width, 2 * width), nn.MaxPool2d(2),
            # A fixed 4x4 grid keeps some spatial layout (helps Fashion-MNIST) and makes the head size-independent.
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * width * 16, feature_dim), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, num_classes))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations (N, feature_dim), non-negative (post-ReLU), for images (N, C, H, W) in [-1, 1]."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (N, num_classes) for images (N, C, H, W) in [-1, 1]."""
        return self.head(self.body(x))
