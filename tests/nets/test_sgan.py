"""The MLP nets of Salimans et al. 2016's MNIST setup: shapes, the fixed "fake" logit, noise in train mode only,
the feature layer, the data-dependent init, and G's range and prior."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.nets.layers import GaussianNoise, WeightNormLinear
from gan_lightning.nets.sgan import SGANMLPDiscriminator, SGANMLPGenerator


def small_d(**kwargs) -> SGANMLPDiscriminator:
    return SGANMLPDiscriminator(image_shape=(1, 28, 28), num_classes=10, hidden_dims=(64, 32, 16), **kwargs)


def test_discriminator_shapes_and_fixed_fake_logit():
    d = small_d()
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    logits = d(x)
    assert logits.shape == (5, 11) and torch.equal(logits[:, 10], torch.zeros(5))
    assert d.features(x).shape == (5, 16) and (d.features(x) >= 0).all()  # the last hidden ReLU
    full = SGANMLPDiscriminator()
    widths = [m.out_features for m in full.modules() if isinstance(m, WeightNormLinear)]
    assert widths == [1000, 500, 250, 250, 250, 10]  # the authors' 784-1000-500-250-250-250-10
    assert [m.sigma for m in full.modules() if isinstance(m, GaussianNoise)] == [0.3, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in full.modules())
    trained_scales = [isinstance(m.g, torch.nn.Parameter) for m in full.modules() if isinstance(m, WeightNormLinear)]
    assert trained_scales == [False] * 5 + [True]  # only the output layer trains its scale
    with pytest.raises(ValueError, match=r"expected images \(N, 1, 28, 28\)"):
        d(torch.zeros(2, 1, 32, 32))


def test_without_generated_logit_the_output_is_the_k_class_logits():
    """CatGAN's objective has no "generated" class (conf/model/catgan_mlp_wn.yaml): the same weights give (N, K)."""
    torch.manual_seed(0)
    sgan = small_d().eval()
    catgan = small_d(generated_logit=False).eval()
    catgan.load_state_dict(sgan.state_dict())
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    assert catgan(x).shape == (5, 10) and catgan.num_classes == 10
    assert torch.equal(catgan(x), sgan(x)[:, :10])
    assert torch.equal(catgan.logits_from_features(catgan.features(x)), catgan(x))


def test_noise_is_active_in_train_mode_and_off_in_eval_mode():
    d = small_d()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    d.train()
    assert not torch.equal(d(x), d(x))
    d.eval()
    assert torch.equal(d(x), d(x))
    quiet = small_d(input_noise=0.0, hidden_noise=0.0).train()
    assert torch.equal(quiet(x), quiet(x))


def test_data_dependent_init_normalises_first_layer_on_the_init_batch():
    torch.manual_seed(0)
    d = small_d().eval()  # noise off: the init batch's pre-activations are then exactly normalised
    x = torch.rand(300, 1, 28, 28) * 2 - 1
    d.data_dependent_init(x)
    first = d.body[2]
    assert isinstance(first, WeightNormLinear)
    pre = first((x.flatten(1) + 1) / 2)
    torch.testing.assert_close(pre.mean(0), torch.zeros(64), atol=1e-4, rtol=0)
    torch.testing.assert_close(pre.std(0, unbiased=False), torch.ones(64), atol=1e-4, rtol=0)
    logits = d(x)[:, :10]
    torch.testing.assert_close(logits.std(0, unbiased=False), torch.ones(10), atol=1e-4, rtol=0)


def test_generator_range_and_uniform_prior():
    g = SGANMLPGenerator(latent_dim=100, image_shape=(1, 28, 28))
    assert g.latent_distribution == "uniform"
    x = g(torch.rand(8, 100))
    assert x.shape == (8, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    with pytest.raises(ValueError, match="latent_dim"):
        SGANMLPGenerator(latent_dim=0)
