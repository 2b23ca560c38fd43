"""MLP generator / discriminator (Goodfellow et al. 2014)."""

import pytest
import torch

from gan_lightning.nets import MLPDiscriminator, MLPGenerator


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
