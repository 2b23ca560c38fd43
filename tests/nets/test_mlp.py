"""MLP generator / discriminator (Goodfellow et al. 2014)."""

import math

import pytest
import torch

from gan_lightning.nets import MLPDiscriminator, MLPGenerator
from gan_lightning.nets.layers import Maxout
from gan_lightning.nets.mlp import MaxoutMLPDiscriminator


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 64, 64)])
def test_shapes_and_range(shape):
    g = MLPGenerator(latent_dim=16, image_shape=shape, hidden_dims=(32, 64))
    d = MLPDiscriminator(image_shape=shape, hidden_dims=(64, 32))
    assert g.latent_dim == 16 and g.image_shape == shape and d.image_shape == shape
    x = g(torch.randn(5, 16) * 10)  # large z pushes the Tanh towards saturation
    assert x.shape == (5, *shape)
    assert x.min() >= -1 and x.max() <= 1
    assert g(torch.randn(5, 16, 1, 1)).shape == (5, *shape)
    assert d(x).shape == (5,)
    assert d.features(x).shape == (5, 32)


def test_defaults():
    g, d = MLPGenerator(), MLPDiscriminator()
    assert g.latent_dim == 100 and g.image_shape == (1, 28, 28)
    x = g(torch.randn(3, 100))
    assert x.shape == (3, 1, 28, 28)
    assert d(x).shape == (3,) and d.features(x).shape == (3, 256)
    assert any(isinstance(m, torch.nn.Dropout) for m in d.modules())
    assert not any(isinstance(m, torch.nn.Dropout) for m in g.modules())


def test_single_sample_logit_shape():
    assert MLPDiscriminator(hidden_dims=(8,))(torch.randn(1, 1, 28, 28)).shape == (1,)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"image_shape": (28, 28)}, "image_shape"),
        ({"hidden_dims": ()}, "hidden_dims"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_invalid_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPDiscriminator(**kwargs)
    with pytest.raises(ValueError, match=match):
        MLPGenerator(**kwargs)


def test_modern_generator_options():
    g = MLPGenerator(latent_dim=8, hidden_dims=(16, 32, 64), batch_norm=True, negative_slope=0.2)
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [n.num_features for n in norms] == [32, 64]  # none after the first hidden layer
    assert all(m.negative_slope == 0.2 for m in g.modules() if isinstance(m, torch.nn.LeakyReLU))
    assert g(torch.randn(4, 8)).shape == (4, 1, 28, 28)


def test_paper_generator_sigmoid_output_bias_from_marginals():
    g = MLPGenerator(latent_dim=8, hidden_dims=(16,), output="sigmoid", init_range=0.05,
                     latent_distribution="uniform_centered")
    assert g.latent_distribution == "uniform_centered"
    assert max(m.weight.abs().max().item() for m in g.modules() if isinstance(m, torch.nn.Linear)) <= 0.05
    images = torch.full((10, 1, 28, 28), -1.0)
    images[:5, 0, 0, 0] = 1.0  # pixel (0, 0) is on in half the images; every other pixel is always off
    g.data_dependent_init(images)
    assert g.out.bias[0].item() == pytest.approx(0.0, abs=1e-6)  # logit(0.5)
    assert g.out.bias[1].item() == pytest.approx(math.log(1e-7 / (1 - 1e-7)), rel=1e-4)  # clipped logit(0)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.zero_()
    x = g(torch.zeros(1, 8))  # zero weights: the output is the marginals, mapped to [-1, 1]
    assert x[0, 0, 0, 0].item() == pytest.approx(0.0, abs=1e-6) and x[0, 0, 0, 1].item() == pytest.approx(-1.0, abs=1e-5)
    tanh = MLPGenerator(latent_dim=8, hidden_dims=(16,))
    bias = tanh.out.bias.clone()
    tanh.data_dependent_init(images)
    assert torch.equal(tanh.out.bias, bias)  # a tanh output keeps its bias unless asked
    tanh = MLPGenerator(latent_dim=8, hidden_dims=(16,), marginal_output_bias=True)
    tanh.data_dependent_init(images)
    assert tanh.out.bias[0].item() == pytest.approx(0.0, abs=1e-6)
    assert tanh.out.bias[1].item() == pytest.approx(math.log(1e-7 / (1 - 1e-7)) / 2, rel=1e-4)
    with torch.no_grad():
        tanh.out.weight.zero_()
    x = tanh(torch.zeros(1, 8))  # the same mean image as the sigmoid output's
    assert x[0, 0, 0, 0].item() == pytest.approx(0.0, abs=1e-6) and x[0, 0, 0, 1].item() == pytest.approx(-1.0, abs=1e-5)
    with pytest.raises(ValueError, match="output"):
        MLPGenerator(output="relu")


def test_maxout_discriminator_of_the_paper():
    d = MaxoutMLPDiscriminator()
    maxouts = [m for m in d.modules() if isinstance(m, Maxout)]
    assert [(m.units, m.pieces) for m in maxouts] == [(240, 5), (240, 5)]
    assert [m.p for m in d.modules() if isinstance(m, torch.nn.Dropout)] == [0.2, 0.5, 0.5]
    assert max(p.abs().max().item() for p in d.parameters()) <= 0.005
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert d(x).shape == (3,) and d.features(x).shape == (3, 240)
    with pytest.raises(ValueError, match="pieces"):
        MaxoutMLPDiscriminator(hidden_units=(240, 240), pieces=(5,))


def test_norm_first_puts_batchnorm_on_every_hidden_layer():
    """The CatGAN MLP generator (conf/model/catgan_mlp.yaml): BatchNorm after each hidden Linear, the first too."""
    count = lambda g: sum(isinstance(m, torch.nn.BatchNorm1d) for m in g.modules())  # noqa: E731
    kwargs = dict(latent_dim=8, hidden_dims=(16, 16, 32), batch_norm=True, negative_slope=0.1, output="sigmoid")
    assert count(MLPGenerator(**kwargs)) == 2
    g = MLPGenerator(**kwargs, norm_first=True, latent_distribution="uniform")
    assert count(g) == 3 and isinstance(g.net[1], torch.nn.BatchNorm1d)
    assert count(MLPGenerator(latent_dim=8, hidden_dims=(16, 16), norm_first=True)) == 0  # needs batch_norm
    x = g(torch.rand(6, 8))
    assert x.shape == (6, 1, 28, 28) and x.min() >= -1 and x.max() <= 1


def test_spectral_norm_bounds_every_linear_of_d():
    """Miyato et al. 2018: each Linear's weight divided by its largest singular value (power iteration in train
    mode), so every layer of D stays 1-Lipschitz however large its raw weights grow."""
    torch.manual_seed(0)
    d = MLPDiscriminator(image_shape=(1, 8, 8), hidden_dims=(32, 16), dropout=0.0, spectral_norm=True)
    linears = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3
    with torch.no_grad():
        for layer in linears:
            layer.parametrizations.weight.original.mul_(10)  # raw spectral norms far above 1
    assert all(torch.linalg.matrix_norm(m.parametrizations.weight.original, ord=2) > 2 for m in linears)
    x = torch.randn(4, 1, 8, 8)
    for _ in range(30):  # power iterations
        d(x)
    for layer in linears:
        assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2) == pytest.approx(1.0, abs=1e-3)
    assert d(x).shape == (4,)


def test_minibatch_std_lets_d_tell_a_varied_batch_from_a_collapsed_one():
    """Karras et al. 2018, sec. 3: the logit of an item depends on the spread of its batch; a batch of copies adds
    0, and one item alone is allowed."""
    torch.manual_seed(0)
    d = MLPDiscriminator(image_shape=(1, 8, 8), hidden_dims=(16,), dropout=0.0, minibatch_std=True).eval()
    assert d.head.in_features == 17
    x = torch.randn(4, 1, 8, 8)
    copies = x[:1].expand(4, -1, -1, -1)
    with torch.no_grad():
        d.head.weight[0, -1] = 1.0
        varied, collapsed, alone = d(torch.cat([x[:1], x[1:]])), d(copies), d(x[:1])
        spread = d.features(x).std(0, unbiased=False).mean()
    assert torch.allclose(collapsed, alone.expand(4), atol=1e-6)  # no spread: the same as a single item
    assert varied[0] - collapsed[0] == pytest.approx(float(spread), rel=1e-5)
    with pytest.raises(ValueError, match="shape"):
        d.mbstd(torch.zeros(2, 3, 4))
