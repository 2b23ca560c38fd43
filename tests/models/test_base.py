"""The shared adversarial loop: step counting, n_critic, EMA, fixed batch, RNG state."""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
import pytorch_lightning as pl
from pytorch_lightning.plugins.precision import MixedPrecision
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.losses import NonSaturatingLoss
from gan_lightning.models import GAN
from gan_lightning.models.base import _capture_rng_state, _restore_rng_state


class TinyG(nn.Module):
    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3 * 4 * 4), nn.Tanh())

    def forward(self, z):
        return self.net(z.flatten(1)).view(-1, 3, 4, 4)


class TinyD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


def make_model(**kwargs) -> GAN:
    adam = functools.partial(torch.optim.Adam, lr=1e-3, betas=(0.5, 0.999))
    return GAN(TinyG(), TinyD(), NonSaturatingLoss(), adam, adam, **kwargs)


def fit(model: GAN, num_batches: int, batch_size: int) -> pl.Trainer:
    data = TensorDataset(torch.rand(num_batches * batch_size, 3, 4, 4) * 2 - 1, torch.zeros(num_batches * batch_size, dtype=torch.long))
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(data, batch_size=batch_size))
    return trainer


class CountingD(TinyD):
    def __init__(self):
        super().__init__()
        self.batch_sizes: list[int] = []

    def forward(self, x):
        if torch.is_grad_enabled() and self.training:
            self.batch_sizes.append(x.shape[0])
        return super().forward(x)


@pytest.mark.parametrize("n_critic", [1, 3])
def test_n_critic_steps_per_generator_step(n_critic):
    model = make_model(n_critic=n_critic)
    model.discriminator = CountingD()
    trainer = fit(model, num_batches=4, batch_size=2 * n_critic)
    assert model.g_step == 4
    # Lightning counts every optimizer step: n_critic D steps + 1 G step per batch.
    assert trainer.global_step == 4 * (n_critic + 1)
    # Each D step sees its own minibatch of 2 real + 2 fake images (two D calls per step),
    # then the G step one call of 2 fakes.
    per_batch = [2] * (2 * n_critic) + [2]
    assert model.discriminator.batch_sizes == per_batch * 4


class WeightRecordingD(TinyD):
    """Records the first layer's weight at every call that back-propagates into G (input requires grad)."""

    def __init__(self):
        super().__init__()
        self.seen_by_g: list[torch.Tensor] = []

    def forward(self, x):
        if x.requires_grad:
            self.seen_by_g.append(self.net[1].weight.detach().clone())
        return super().forward(x)


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_update_order_decides_which_d_the_generator_step_sees(update):
    model = make_model(update=update)
    model.discriminator = WeightRecordingD()
    d0 = model.discriminator.net[1].weight.detach().clone()
    g0 = [p.detach().clone() for p in model.generator.parameters()]
    trainer = fit(model, num_batches=2, batch_size=4)
    assert model.g_step == 2 and trainer.global_step == 4  # one D and one G optimizer step per batch
    seen = model.discriminator.seen_by_g
    assert len(seen) == 2
    d_after = model.discriminator.net[1].weight.detach()
    assert not torch.equal(d_after, d0)  # D trained
    assert any(not torch.equal(p, q) for p, q in zip(model.generator.parameters(), g0))  # G trained
    if update == "simultaneous":
        # G's first gradient is taken at the initial D, its second at D after exactly one step.
        assert torch.equal(seen[0], d0)
        assert not torch.equal(seen[1], d0)
    else:
        # Algorithm 1: G's gradient at the D that its D step has just updated.
        assert not torch.equal(seen[0], d0)


def test_invalid_update_rule_is_refused_by_name():
    with pytest.raises(ValueError, match="'leapfrog'"):
        make_model(update="leapfrog")
    with pytest.raises(ValueError, match="n_critic=2"):
        make_model(update="simultaneous", n_critic=2)


def test_simultaneous_update_refuses_a_grad_scaler():
    model = make_model(update="simultaneous")
    data = TensorDataset(torch.rand(4, 3, 4, 4) * 2 - 1, torch.zeros(4, dtype=torch.long))
    # 16-mixed with its GradScaler, as on a GPU (on a CPU, Lightning turns precision="16-mixed" into bf16-mixed).
    amp = MixedPrecision(precision="16-mixed", device="cpu", scaler=torch.amp.GradScaler("cpu"))
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, plugins=[amp])
    with pytest.raises(ValueError, match="GradScaler"):
        trainer.fit(model, DataLoader(data, batch_size=4))


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_max_norm_bounds_every_row_of_the_constrained_net_after_training(update):
    def row_norms(net):
        return torch.cat([m.weight.norm(dim=1) for m in net.modules() if isinstance(m, nn.Linear)])

    torch.manual_seed(1)  # an init at which both nets' rows grow far past the bound (> 6 here) without it
    big_steps = functools.partial(torch.optim.SGD, lr=50.0)
    free = GAN(TinyG(), TinyD(), NonSaturatingLoss(), big_steps, big_steps, update=update)
    d_only = GAN(TinyG(), TinyD(), NonSaturatingLoss(), big_steps, big_steps, update=update, d_max_norm=0.5)
    g_only = GAN(TinyG(), TinyD(), NonSaturatingLoss(), big_steps, big_steps, update=update, g_max_norm=0.5)
    for model in (d_only, g_only):
        model.load_state_dict(free.state_dict())
    for model in (free, d_only, g_only):
        torch.manual_seed(0)
        fit(model, num_batches=2, batch_size=4)
    assert row_norms(free.discriminator).max() > 1.0 and row_norms(free.generator).max() > 1.0
    assert row_norms(d_only.discriminator).max() <= 0.5 + 1e-6 and row_norms(d_only.generator).max() > 1.0
    assert row_norms(g_only.generator).max() <= 0.5 + 1e-6 and row_norms(g_only.discriminator).max() > 1.0


@pytest.mark.parametrize("key", ["d_max_norm", "g_max_norm"])
def test_invalid_max_norm_is_refused_by_name(key):
    with pytest.raises(ValueError, match=f"{key} must be > 0 or null, got -1"):
        make_model(**{key: -1})


def test_batch_not_divisible_by_n_critic_is_refused():
    model = make_model(n_critic=3)
    with pytest.raises(ValueError, match="n_critic=3"):
        fit(model, num_batches=1, batch_size=4)


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_invalid_n_critic(bad):
    with pytest.raises(ValueError, match="n_critic"):
        make_model(n_critic=bad)


def test_ema_tracks_generator_and_is_used_for_sampling():
    model = make_model(ema_decay=0.5)
    before = [p.clone() for p in model.generator_ema.parameters()]
    fit(model, num_batches=3, batch_size=2)
    assert model.sampling_generator is model.generator_ema
    assert all(not p.requires_grad for p in model.generator_ema.parameters())
    ema, live = list(model.generator_ema.parameters()), list(model.generator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(ema, before))  # it moved
    assert any(not torch.equal(a, b) for a, b in zip(ema, live))  # but lags G
    # Closed form of one update: ema <- decay * ema + (1 - decay) * g.
    model.g_step = 10
    old = [p.clone() for p in ema]
    model._update_ema()
    for new, prev, g in zip(ema, old, live):
        torch.testing.assert_close(new, 0.5 * prev + 0.5 * g)


def test_fixed_batch_is_a_buffer_and_generation_is_side_effect_free():
    model = make_model(num_fixed_samples=6, fixed_seed=3)
    assert model.fixed_z.shape == (6, 4)
    assert "fixed_z" in model.state_dict()
    torch.testing.assert_close(model.fixed_z, make_model(num_fixed_samples=6, fixed_seed=3).fixed_z)
    model.train()
    bn = model.generator.net[1]
    stats = bn.running_mean.clone()
    rng = torch.get_rng_state()
    a = model.generate_fixed()
    b = model.generate(5, generator=torch.Generator().manual_seed(0))
    assert a.shape == (6, 3, 4, 4) and b.shape == (5, 3, 4, 4)
    assert model.generator.training  # train mode restored
    assert torch.equal(bn.running_mean, stats)  # eval mode: BatchNorm statistics untouched
    assert torch.equal(torch.get_rng_state(), rng)  # global RNG untouched
    torch.testing.assert_close(a, model.generate_fixed())


def test_construction_calls_no_subclass_hook():
    """The fixed latent batch is drawn without sample_condition, so a subclass may set what that hook reads after
    super().__init__() (as cgan.py does)."""

    class LateAttribute(GAN):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.classes = 3

        def sample_condition(self, n, generator=None):
            return torch.arange(n) % self.classes

    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    model = LateAttribute(TinyG(), TinyD(), NonSaturatingLoss(), adam, adam, num_fixed_samples=5, fixed_seed=3)
    torch.testing.assert_close(model.fixed_z, make_model(num_fixed_samples=5, fixed_seed=3).fixed_z)
    assert model.num_fixed_samples == 5 and model.fixed_condition.numel() == 0


@pytest.mark.parametrize("bad", [0, -1, 2.0])
def test_invalid_num_fixed_samples(bad):
    with pytest.raises(ValueError, match="model.num_fixed_samples"):
        make_model(num_fixed_samples=bad)


def test_rng_state_round_trip():
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    state = _capture_rng_state()
    first = (torch.rand(3), np.random.rand(3), random.random())
    _restore_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0])
    assert np.array_equal(first[1], again[1]) and first[2] == again[2]


def test_checkpoint_state_holds_g_step_and_rng():
    model = make_model()
    model.g_step = 7
    checkpoint: dict = {}
    model.on_save_checkpoint(checkpoint)
    restored = make_model()
    restored.on_load_checkpoint(checkpoint)
    assert restored.g_step == 7
    with pytest.raises(KeyError, match="gan_lightning"):
        restored.on_load_checkpoint({})


def test_checkpoint_of_another_model_class_is_refused_by_name():
    checkpoint: dict = {}
    make_model().on_save_checkpoint(checkpoint)
    checkpoint["gan_lightning"]["config"] = {"model": {"_target_": "gan_lightning.models.cgan.ConditionalGAN"}}
    with pytest.raises(ValueError, match=r"^ckpt_path holds a ConditionalGAN checkpoint \(gan_lightning\.models\.cgan\."
                                         r"ConditionalGAN\), but this run builds GAN \(model\._target_=gan_lightning\.models\.gan\.GAN\)"):
        make_model().on_load_checkpoint(checkpoint)
    checkpoint["gan_lightning"]["config"] = {"model": {"_target_": "moved.elsewhere.GAN"}}  # same class, compared by name
    make_model().on_load_checkpoint(checkpoint)


@pytest.mark.parametrize("name, low, high, mean, var", [
    ("normal", None, None, 0.0, 1.0),
    ("uniform", 0.0, 1.0, 0.5, 1 / 12),
    ("uniform_centered", -3 ** 0.5, 3 ** 0.5, 0.0, 1.0),
])
def test_latent_distributions(name, low, high, mean, var):
    from gan_lightning.models.z_sampling import draw_latent

    z = draw_latent(20000, 5, name, torch.Generator().manual_seed(0))
    assert z.shape == (20000, 5)
    assert abs(z.mean().item() - mean) < 0.02 and abs(z.var().item() - var) < 0.03
    if low is not None:
        assert z.min() >= low and z.max() <= high
    again = draw_latent(20000, 5, name, torch.Generator().manual_seed(0))
    assert torch.equal(z, again)
