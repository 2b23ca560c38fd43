"""CatGAN's permutation-invariant MLP discriminator (conf/model/catgan_mlp.yaml)."""

import pytest
import torch
from torch import nn

from gan_lightning.nets.catgan import CatGANMLPDiscriminator
from gan_lightning.nets.layers import FeatureAffine, GaussianNoise


def test_layout_of_the_pi_mnist_discriminator():
    d = CatGANMLPDiscriminator()
    widths = [m.out_features for m in d.modules() if isinstance(m, nn.Linear)]
    assert widths == [1000, 500, 250, 250, 250, 10] and d.feature_dim == 250 and d.num_classes == 10
    assert sum(isinstance(m, nn.BatchNorm1d) for m in d.modules()) == 5
    assert [m.sigma for m in d.modules() if isinstance(m, GaussianNoise)] == [0.3] * 6
    assert {m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}


@pytest.mark.parametrize("shape,k", [((1, 28, 28), 10), ((3, 8, 8), 20)])
def test_shapes(shape, k):
    d = CatGANMLPDiscriminator(image_shape=shape, num_classes=k, hidden_dims=(32, 16))
    x = torch.rand(5, *shape) * 2 - 1
    assert d(x).shape == (5, k) and d.features(x).shape == (5, 16)


def test_noise_in_train_mode_only_and_input_read_in_unit_range():
    torch.manual_seed(0)
    d = CatGANMLPDiscriminator(hidden_dims=(32,), num_classes=3)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    assert not torch.equal(d(x), d(x))  # fresh noise at every call
    d.eval()
    assert torch.equal(d(x), d(x))
    # [-1, 1] images are read as [0, 1] pixels: the first layer sees (x + 1) / 2
    first = d.body[2]
    d.body = d.body[:3]  # keep only Flatten, input noise (off) and the first Linear
    torch.testing.assert_close(d.features(x), first(((x + 1) / 2).flatten(1)))


@pytest.mark.parametrize("kwargs,match", [
    ({"num_classes": 1}, "num_classes"),
    ({"hidden_dims": ()}, "hidden_dims"),
    ({"input_noise": -0.1}, "sigma"),
    ({"negative_slope": -1.0}, "negative_slope"),
    ({"image_shape": (28, 28)}, "image_shape"),
    ({"noise_position": "after_relu"}, "noise_position"),
])
def test_invalid_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CatGANMLPDiscriminator(**kwargs)


def test_wrong_input_shape_is_refused():
    with pytest.raises(ValueError, match=r"expected images \(N, 1, 28, 28\)"):
        CatGANMLPDiscriminator()(torch.zeros(2, 784))


def _first_layer_noise_std(d, x, scale):
    """Std over noise draws of the first hidden layer's output, with the first Linear's weights times ``scale``."""
    with torch.no_grad():
        d.body[2].weight.mul_(scale)
        d.body[2].bias.mul_(scale)
        first_layer = d.body[:7]  # Flatten, input noise, Linear, then the 4 modules up to the LeakyReLU
        outs = torch.stack([first_layer((x + 1) / 2) for _ in range(20)])
    return outs.std(0).mean().item()


def test_post_norm_noise_cannot_be_outgrown_by_larger_weights():
    """Noise before BatchNorm shrinks (relative to the signal) when D scales its weights up; after the
    normalisation (the ladder network's placement) it keeps its size."""
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    stds = {}
    for position in ("pre_norm", "post_norm"):
        for scale in (1.0, 100.0):
            torch.manual_seed(1)
            d = CatGANMLPDiscriminator(hidden_dims=(32,), num_classes=3, input_noise=0.0, hidden_noise=0.5,
                                       noise_position=position)
            stds[position, scale] = _first_layer_noise_std(d, x, scale)
    assert stds["pre_norm", 100.0] < 0.1 * stds["pre_norm", 1.0]
    assert stds["post_norm", 100.0] == pytest.approx(stds["post_norm", 1.0], rel=0.05)
    d = CatGANMLPDiscriminator(hidden_dims=(32, 16), noise_position="post_norm")
    assert [type(m) for m in d.body[2:7]] == [nn.Linear, nn.BatchNorm1d, GaussianNoise, FeatureAffine, nn.LeakyReLU]
    assert all(not m.affine for m in d.modules() if isinstance(m, nn.BatchNorm1d))
    d.eval()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert torch.equal(d(x), d(x))
