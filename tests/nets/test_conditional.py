"""Class-conditional networks of cGAN (Mirza & Osindero 2014): shapes, label dependence, errors."""

import pytest
import torch
from torch import nn

from gan_lightning.nets.conditional import (
    ConditionalDCGANDiscriminator,
    ConditionalDCGANGenerator,
    ConditionalMLPDiscriminator,
    ConditionalMLPGenerator,
)
from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator

K, Z = 10, 8


def conv_nets(size=28, channels=1, label_embedding="embedding"):
    g = ConditionalDCGANGenerator(latent_dim=Z, num_classes=K, channels=channels, image_size=size, base_width=8,
                                  label_embedding=label_embedding)
    d = ConditionalDCGANDiscriminator(num_classes=K, channels=channels, image_size=size, base_width=8)
    return g, d


def mlp_nets(dropout=0.0):
    g = ConditionalMLPGenerator(latent_dim=Z, num_classes=K, image_shape=(1, 28, 28), z_hidden=16, y_hidden=24,
                                combined_hidden=32)
    d = ConditionalMLPDiscriminator(num_classes=K, image_shape=(1, 28, 28), x_hidden=16, y_hidden=8,
                                    combined_hidden=12, dropout=dropout)
    return g, d


NETS = {
    "mlp": mlp_nets,
    "dcgan-embedding": conv_nets,
    "dcgan-one_hot": lambda: conv_nets(label_embedding="one_hot"),
    "dcgan-32-rgb": lambda: conv_nets(size=32, channels=3),
}


@pytest.mark.parametrize("kind", NETS)
def test_shapes_and_range(kind):
    torch.manual_seed(0)
    g, d = NETS[kind]()
    y = torch.arange(6) % K
    x = g(torch.randn(6, Z) * 10, y)
    c, s = (3, 32) if kind == "dcgan-32-rgb" else (1, 28)
    assert x.shape == (6, c, s, s)
    assert x.min() >= -1 and x.max() <= 1
    assert g(torch.randn(6, Z, 1, 1), y).shape == x.shape
    assert d(x, y).shape == (6,)
    assert d.features(x, y).dim() == 2 and d.features(x, y).shape[0] == 6
    assert g.latent_dim == Z and g.num_classes == d.num_classes == K


@pytest.mark.parametrize("kind", NETS)
def test_label_changes_outputs(kind):
    """The label is a real input: same z (or x), another y -> another output, per sample."""
    torch.manual_seed(0)
    g, d = NETS[kind]()
    g.eval(), d.eval()
    z = torch.randn(5, Z)
    y0, y1 = torch.zeros(5, dtype=torch.long), torch.arange(1, 6)
    with torch.no_grad():
        a, b = g(z, y0), g(z, y1)
        assert all(not torch.allclose(a[i], b[i], atol=1e-6) for i in range(5))
        x = torch.rand(5, *a.shape[1:]) * 2 - 1
        assert (d(x, y0) - d(x, y1)).abs().min() > 1e-6
        # ... and the z / x inputs still matter for a fixed label.
        assert not torch.allclose(g(z, y0), g(torch.randn(5, Z), y0))


@pytest.mark.parametrize("kind", NETS)
def test_samples_are_independent_of_the_rest_of_the_batch(kind):
    torch.manual_seed(0)
    g, d = NETS[kind]()
    g.eval(), d.eval()
    z, y = torch.randn(4, Z), torch.tensor([3, 1, 4, 1])
    with torch.no_grad():
        full = g(z, y)
        torch.testing.assert_close(g(z[2:3], y[2:3]), full[2:3], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(d(full[1:2], y[1:2]), d(full, y)[1:2], rtol=1e-5, atol=1e-6)


def test_conv_generator_wraps_dcgan_with_label_code_at_the_input():
    g, _ = conv_nets()
    assert isinstance(g.net, DCGANGenerator) and g.net.latent_dim == Z + K  # embedding_dim defaults to K
    assert isinstance(g.embedding, nn.Embedding) and g.embedding.weight.shape == (K, K)
    g16 = ConditionalDCGANGenerator(latent_dim=Z, num_classes=K, base_width=8, embedding_dim=16)
    assert g16.net.latent_dim == Z + 16
    one_hot, _ = conv_nets(label_embedding="one_hot")
    assert one_hot.embedding is None and not any(isinstance(m, nn.Embedding) for m in one_hot.modules())
    torch.testing.assert_close(one_hot.label_code(torch.tensor([2])), torch.eye(K)[2:3])
    # The embedding is learned: it receives gradients.
    g(torch.randn(3, Z), torch.tensor([0, 1, 1])).sum().backward()
    grad = g.embedding.weight.grad
    assert grad[0].abs().sum() > 0 and grad[1].abs().sum() > 0 and grad[2:].abs().sum() == 0


def test_conv_discriminator_sees_one_hot_label_maps():
    _, d = conv_nets()
    assert isinstance(d.net, DCGANDiscriminator) and d.net.channels == 1 + K
    x = torch.zeros(2, 1, 28, 28)
    maps = d._with_label_maps(x, torch.tensor([7, 0]))
    assert maps.shape == (2, 1 + K, 28, 28)
    assert torch.equal(maps[0, 1 + 7], torch.ones(28, 28)) and maps[0, 1:].sum() == 28 * 28
    assert torch.equal(maps[1, 1], torch.ones(28, 28)) and maps[1, 1:].sum() == 28 * 28


def test_mlp_layer_sizes_follow_the_paper_and_dropout_only_in_training():
    g, d = ConditionalMLPGenerator(), ConditionalMLPDiscriminator()
    assert (g.z_branch[0].out_features, g.y_branch[0].out_features, g.joint[0].out_features) == (200, 1000, 1200)
    assert g.joint[0].in_features == 1200 and isinstance(g.joint[-1], nn.Tanh)
    assert (d.x_branch[1].out_features, d.y_branch[0].out_features, d.joint[0].out_features) == (240, 50, 240)
    assert d.joint[0].in_features == 290 and d.head.out_features == 1
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in d.modules())
    torch.manual_seed(0)
    _, d = mlp_nets(dropout=0.5)
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    d.train()
    assert not torch.equal(d(x, y), d(x, y))  # dropout active
    d.eval()
    assert torch.equal(d(x, y), d(x, y))


@pytest.mark.parametrize("kind", ["mlp", "dcgan-embedding"])
def test_bad_inputs(kind):
    g, d = NETS[kind]()
    y = torch.arange(3)
    with pytest.raises(ValueError, match="z must be"):
        g(torch.randn(3, Z + 1), y)
    with pytest.raises(ValueError, match="y must be int64"):
        g(torch.randn(3, Z), y.float())
    with pytest.raises(ValueError, match=r"y must be int64 class indices of shape \(3,\)"):
        g(torch.randn(3, Z), torch.arange(4))
    with pytest.raises(ValueError, match="x must be"):
        d(torch.randn(3, 1, 32, 32), y)
    with pytest.raises(ValueError, match="y must be"):
        d(torch.randn(3, 1, 28, 28), torch.eye(K)[:3])
    with pytest.raises((IndexError, RuntimeError)):  # label >= K
        g(torch.randn(3, Z), torch.tensor([0, 1, K]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="label_embedding.*'onehot'"):
        ConditionalDCGANGenerator(label_embedding="onehot")
    with pytest.raises(ValueError, match="num_classes"):
        ConditionalDCGANDiscriminator(num_classes=0)
    with pytest.raises(ValueError, match="image_size"):
        ConditionalDCGANGenerator(image_size=30)
    with pytest.raises(ValueError, match="dropout"):
        ConditionalMLPDiscriminator(dropout=1.0)
    with pytest.raises(ValueError, match="y_hidden"):
        ConditionalMLPGenerator(y_hidden=0)


@pytest.mark.parametrize("output", ["sigmoid", "tanh"])
def test_mlp_generator_output_bias_from_the_pixel_marginals(output):
    """With marginal_output_bias, data_dependent_init makes G with zero weights draw the mean image; without, the
    bias is left alone."""
    images = torch.full((10, 1, 28, 28), -1.0)
    images[:5, 0, 0, 0] = 1.0  # pixel (0, 0) on in half the images, every other pixel always off
    kwargs = dict(latent_dim=8, num_classes=3, z_hidden=8, y_hidden=8, combined_hidden=16, dropout=0.5, output=output)
    plain = ConditionalMLPGenerator(**kwargs)
    bias = plain.joint[-2].bias.clone()
    plain.data_dependent_init(images)
    assert torch.equal(plain.joint[-2].bias, bias)
    g = ConditionalMLPGenerator(**kwargs, marginal_output_bias=True).eval()
    g.data_dependent_init(images)
    with torch.no_grad():
        g.joint[-2].weight.zero_()
    x = g(torch.rand(2, 8), torch.tensor([0, 2]))
    assert x[:, 0, 0, 0].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert x[:, 0, 0, 1].tolist() == pytest.approx([-1.0, -1.0], abs=1e-5)


def test_mlp_d_unit_range_input_sees_pixels_in_0_1():
    """unit_range_input: D(x) is the plain D applied to (x + 1) / 2, the paper's pylearn2 pixel scale."""
    torch.manual_seed(0)
    kwargs = dict(num_classes=K, image_shape=(1, 28, 28), x_hidden=16, y_hidden=8, combined_hidden=12, dropout=0.0,
                  pieces=(5, 5, 4), init_range=0.05)
    unit, plain = ConditionalMLPDiscriminator(**kwargs, unit_range_input=True), ConditionalMLPDiscriminator(**kwargs)
    plain.load_state_dict(unit.state_dict())
    x, y = torch.rand(4, 1, 28, 28) * 2 - 1, torch.arange(4)
    assert torch.allclose(unit(x, y), plain((x + 1) / 2, y))
    assert not torch.allclose(unit(x, y), plain(x, y))
