"""DCGAN generator / discriminator (Radford et al. 2015) and DCGAN init."""

import functools

import pytest
import torch
from torch import nn

from gan_lightning.nets import DCGANDiscriminator, DCGANGenerator, normal_init_

POOLING = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._LPPoolNd,
)


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_range(size, channels):
    g = DCGANGenerator(latent_dim=8, channels=channels, image_size=size, base_width=8)
    d = DCGANDiscriminator(channels=channels, image_size=size, base_width=8)
    assert (g.latent_dim, g.channels, g.image_size) == (8, channels, size)
    assert (d.channels, d.image_size) == (channels, size)
    x = g(torch.randn(4, 8) * 10)
    assert x.shape == (4, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert g(torch.randn(4, 8, 1, 1)).shape == (4, channels, size, size)
    assert d(x).shape == (4,)
    feats = d.features(x)
    assert feats.dim() == 2 and feats.shape == (4, d.feature_dim)


@pytest.mark.parametrize("size,first_map", [(28, 7), (32, 4), (64, 4)])
def test_projection_from_1x1(size, first_map):
    g = DCGANGenerator(latent_dim=8, image_size=size, base_width=8)
    first = g.net[0]
    assert isinstance(first, nn.ConvTranspose2d) and first.kernel_size == (first_map, first_map)
    assert first(torch.randn(2, 8, 1, 1)).shape[-2:] == (first_map, first_map)


def test_no_pooling_no_linear():
    for net in (DCGANGenerator(), DCGANDiscriminator(channels=3)):
        for m in net.modules():
            assert not isinstance(m, POOLING + (nn.Linear,)), m


def test_batchnorm_placement():
    g, d = DCGANGenerator(image_size=32), DCGANDiscriminator(image_size=32)
    g_layers = list(g.net)
    # Output: ConvTranspose2d -> Tanh, no BN; every other ConvTranspose2d is followed by BN + ReLU.
    assert isinstance(g_layers[-2], nn.ConvTranspose2d) and isinstance(g_layers[-1], nn.Tanh)
    for i, m in enumerate(g_layers[:-2]):
        if isinstance(m, nn.ConvTranspose2d):
            assert isinstance(g_layers[i + 1], nn.BatchNorm2d) and isinstance(g_layers[i + 2], nn.ReLU)
    d_layers = list(d.body)
    # Input conv -> LeakyReLU directly (no BN); later convs use BN.
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)
    assert d_layers[1].negative_slope == 0.2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 2
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())


@pytest.mark.parametrize("cls", [DCGANGenerator, DCGANDiscriminator])
@pytest.mark.parametrize("bad", [0, 48, 100, 30])
def test_bad_image_size(cls, bad):
    with pytest.raises(ValueError, match=rf"image_size.*{bad}") as exc:
        cls(image_size=bad)
    assert "28" in str(exc.value) and "32" in str(exc.value) and "64" in str(exc.value)


def test_bad_inputs():
    g, d = DCGANGenerator(latent_dim=8, image_size=28, base_width=8), DCGANDiscriminator(image_size=28, base_width=8)
    with pytest.raises(ValueError, match="z must be"):
        g(torch.randn(2, 9))
    with pytest.raises(ValueError, match="x must be"):
        d(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="channels"):
        DCGANDiscriminator(channels=0)


def test_init_statistics():
    torch.manual_seed(0)
    g, d = DCGANGenerator(image_size=64), DCGANDiscriminator(image_size=64)
    big = g.net[3]  # ConvTranspose2d(512, 256, 4): ~2M weights
    assert big.weight.numel() > 1_000_000
    assert big.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert big.weight.mean().abs().item() < 1e-3
    bns = [m for net in (g, d) for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    bn_w = torch.cat([m.weight.detach() for m in bns])
    assert bn_w.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn_w.std().item() == pytest.approx(0.02, rel=0.2)
    assert all(torch.all(m.bias == 0) for m in bns)
    assert torch.all(d.head.bias == 0) and torch.all(d.body[0].bias == 0)


def test_normal_init_custom_std_and_linear():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Linear(1000, 1000), nn.BatchNorm1d(1000))
    lin.apply(functools.partial(normal_init_, std=0.05))
    assert lin[0].weight.std().item() == pytest.approx(0.05, rel=0.05)
    assert torch.all(lin[0].bias == 0)
    assert lin[1].weight.mean().item() == pytest.approx(1.0, abs=0.01)


def test_backward_gives_finite_grads():
    g, d = DCGANGenerator(latent_dim=8, image_size=28, base_width=8), DCGANDiscriminator(image_size=28, base_width=8)
    d(g(torch.randn(3, 8))).mean().backward()
    for p in list(g.parameters()) + list(d.parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all()
