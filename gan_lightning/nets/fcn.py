"""A small fully convolutional segmenter for the FCN-score (Isola et al. 2017, sec. 4.2), after the FCN of
Long et al. 2015, "Fully Convolutional Networks for Semantic Segmentation": a conv encoder with downsampling,
1x1 classifiers ("score" layers), and learned upsampling back to the input size fused with the scores of the
finer stages (the FCN-16s / FCN-8s skips, here at strides 2 and 1)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv_bn_relu(c_in: int, c_out: int, dilation: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


def _bilinear_upsampler(channels: int) -> nn.ConvTranspose2d:
    """A x2 transposed conv (kernel 4, stride 2, padding 1) initialised to bilinear interpolation per channel, as
    FCN initialises its upsampling layers; it stays learnable."""
    up = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, bias=False)
    f = torch.tensor([0.25, 0.75, 0.75, 0.25])
    with torch.no_grad():
        up.weight.zero_()
        up.weight[range(channels), range(channels)] = f[:, None] * f[None, :]
    return up


class FCNSegmenter(nn.Module):
    """Images (N, in_channels, H, W) in [-1, 1] -> per-pixel class logits (N, num_classes, H, W).

    Encoder: two 3x3 convs at full resolution (``width``), max-pool, two at 1/2 (``2 * width``), max-pool, three
    at 1/4 (``4 * width``, dilations 1, 2, 4). The dilations stand in for FCN's large fc6 / fc7 convolutions: the
    receptive field (72 px) covers a whole 32 or 64 px image, so a pixel's class can use the item's global shape.
    Each stage has a 1x1 score layer; the coarse scores are upsampled x2 (bilinear-initialised transposed conv)
    and summed with the next finer stage's scores, twice. Conv + BatchNorm + ReLU throughout.

    Args:
        in_channels: image channels C (1 for the grayscale labels2fashion photos, 3 for RGB).
        num_classes: classes K (11 for labels2fashion: background + 10 items; 19 for Cityscapes).
        width: channels of the first stage.

    ``config`` holds the constructor arguments, to rebuild the net from a saved file.

    Raises:
        ValueError: at construction, an argument < 1; in :meth:`forward`, a wrong channel count or H, W not
            divisible by 4.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 11, width: int = 32):
        super().__init__()
        for key, value in (("in_channels", in_channels), ("num_classes", num_classes), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"FCNSegmenter {key} must be an integer >= 1, got {value!r}")
        self.config = dict(in_channels=in_channels, num_classes=num_classes, width=width)
        self.in_channels, self.num_classes, self.width = in_channels, num_classes, width
        w, k = width, num_classes
        self.stage1 = nn.Sequential(*_conv_bn_relu(in_channels, w), *_conv_bn_relu(w, w))
        self.stage2 = nn.Sequential(nn.MaxPool2d(2), *_conv_bn_relu(w, 2 * w), *_conv_bn_relu(2 * w, 2 * w))
        self.stage3 = nn.Sequential(nn.MaxPool2d(2), *_conv_bn_relu(2 * w, 4 * w), *_conv_bn_relu(4 * w, 4 * w, 2),
                                    *_conv_bn_relu(4 * w, 4 * w, 4))
        self.score1, self.score2, self.score3 = nn.Conv2d(w, k, 1), nn.Conv2d(2 * w, k, 1), nn.Conv2d(4 * w, k, 1)
        self.up3, self.up2 = _bilinear_upsampler(k), _bilinear_upsampler(k)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"FCNSegmenter expects images (N, {self.in_channels}, H, W), got shape {tuple(x.shape)}")
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"FCNSegmenter needs H and W divisible by 4 (two x2 poolings), got {tuple(x.shape[-2:])}")
        f1 = self.stage1(x)
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        s2 = self.score2(f2) + self.up3(self.score3(f3))
        return self.score1(f1) + self.up2(s2)
