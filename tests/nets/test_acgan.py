"""ACGANDiscriminator (Odena et al. 2017): two heads on one DCGAN body, shapes, gradients and bad input."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.nets.acgan import ACGANDiscriminator


@pytest.mark.parametrize("channels,image_size", [(1, 28), (3, 32)])
def test_shapes_of_both_heads(channels, image_size):
    d = ACGANDiscriminator(num_classes=7, channels=channels, image_size=image_size, base_width=8)
    src, cls = d(torch.randn(5, channels, image_size, image_size))
    assert src.shape == (5,) and cls.shape == (5, 7)
    assert d.features(torch.randn(2, channels, image_size, image_size)).shape == (2, d.feature_dim)


def test_class_head_reads_the_shared_features():
    torch.manual_seed(0)
    d = ACGANDiscriminator(num_classes=3, channels=1, image_size=28, base_width=8).eval()
    x = torch.randn(4, 1, 28, 28)
    _, cls = d(x)
    torch.testing.assert_close(cls, d.class_head(d.features(x)))
    cls.sum().backward()  # the class loss trains the body too, not only its own head
    assert d.net.body[0].weight.grad.abs().sum() > 0 and d.net.head.weight.grad is None


def test_bad_input():
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2, got num_classes=1"):
        ACGANDiscriminator(num_classes=1)
    with pytest.raises(ValueError, match="28"):
        ACGANDiscriminator(channels=1, image_size=28, base_width=8)(torch.randn(2, 1, 32, 32))
