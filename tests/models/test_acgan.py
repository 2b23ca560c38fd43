"""ACGAN (Odena, Olah & Shlens 2017): the L_S and L_C terms by hand, G's class term, training, configs."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_lightning.losses import MinimaxLoss, NonSaturatingLoss, WGANGPLoss
from gan_lightning.models import build_model
from gan_lightning.models.acgan import ACGAN
from gan_lightning.models.cgan import ConditionalGAN
from gan_lightning.nets.acgan import ACGANDiscriminator
from gan_lightning.nets.conditional import ConditionalDCGANGenerator
from tests.hydra_utils import compose_config
from tests.models.test_cgan import SIZE, K, LabeledData, RecordingG, fit


class TwoHeadD(nn.Module):
    """Tiny D(x) -> (source logit (N,), class logits (N, K)), recording the images it sees."""

    num_classes = K

    def __init__(self):
        super().__init__()
        self.src = nn.Linear(SIZE * SIZE, 1)
        self.cls = nn.Linear(SIZE * SIZE, K)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        h = x.flatten(1)
        return self.src(h).squeeze(1), self.cls(h)


def make_model(loss=None, **kwargs) -> ACGAN:
    adam = functools.partial(torch.optim.Adam, lr=1e-3, betas=(0.5, 0.999))
    return ACGAN(RecordingG(), TwoHeadD(), num_classes=K, loss=loss or MinimaxLoss(), optimizer_g=adam,
                 optimizer_d=adam, **kwargs)


def batch():
    return torch.rand(6, 1, SIZE, SIZE) * 2 - 1, torch.tensor([3, 3, 0, 1, 2, 3])


def test_d_loss_is_minus_ls_minus_lc_by_hand():
    """D minimizes -(L_S + L_C): BCE on the source logits plus CE of the class logits on real and fake."""
    torch.manual_seed(0)
    model = make_model(class_loss_weight=0.7)
    real, y = batch()
    loss, logs = model.discriminator_loss((real, y))
    real_x, fake_x = model.discriminator.seen
    assert torch.equal(real_x, real) and torch.equal(model.generator.labels[-1], y)  # fakes for the batch's labels
    d = model.discriminator
    src_r, src_f = d.src(real_x.flatten(1)).squeeze(1), d.src(fake_x.flatten(1)).squeeze(1)
    l_s = -(F.logsigmoid(src_r).mean() + F.logsigmoid(-src_f).mean())
    l_c = F.cross_entropy(d.cls(real_x.flatten(1)), y) + F.cross_entropy(d.cls(fake_x.flatten(1)), y)
    torch.testing.assert_close(loss, l_s + 0.7 * l_c)
    torch.testing.assert_close(logs["loss/d_class"], l_c)
    assert logs["d/real_class_acc"] == (d.cls(real_x.flatten(1)).argmax(1) == y).float().mean()


def test_g_loss_is_ls_minus_lc_by_hand():
    """G minimizes L_S-term of the loss plus CE(cls(G(z, y)), y), i.e. maximizes L_C - L_S (minimax form)."""
    torch.manual_seed(0)
    model = make_model(class_loss_weight=2.0)
    real, y = batch()
    loss, logs = model.generator_loss((real, y))
    (fake_x,) = model.discriminator.seen
    d = model.discriminator
    src_f = d.src(fake_x.flatten(1)).squeeze(1)
    l_c = F.cross_entropy(d.cls(fake_x.flatten(1)), y)
    torch.testing.assert_close(loss, F.logsigmoid(-src_f).mean() + 2.0 * l_c)
    torch.testing.assert_close(logs["loss/g_class"], l_c)


def test_gs_class_term_pushes_samples_toward_the_given_class():
    """With a constant source term (zero source head), G steps on the class term alone raise p(y | G(z, y))
    for fresh z (a flipped sign of L_C in the G loss would lower it)."""
    torch.manual_seed(0)
    model = make_model(class_loss_weight=1.0)
    nn.init.zeros_(model.discriminator.src.weight)  # L_S constant: only the class term moves G
    with torch.no_grad():
        model.discriminator.cls.weight.mul_(10)  # a confident fixed classifier, so 20 steps move p(y | x) visibly
    opt = torch.optim.SGD(model.generator.parameters(), lr=0.5)
    y = torch.tensor([0, 1, 2, 3] * 4)
    z = torch.randn(16, 3)

    def log_p_y():
        with torch.no_grad():
            return F.log_softmax(model.discriminator(model.generator(z, y))[1], 1).gather(1, y[:, None]).mean()

    before = log_p_y()
    for _ in range(20):
        torch.manual_seed(1)
        opt.zero_grad()
        model.generator_loss((torch.zeros(16, 1, SIZE, SIZE), y))[0].backward()
        opt.step()
    assert log_p_y() > before + 0.1


def test_gradient_penalty_acts_on_the_source_logit():
    model = make_model(loss=WGANGPLoss(lambda_gp=10.0))
    real, y = batch()
    loss, logs = model.discriminator_loss((real, y))
    assert "loss/gp" in logs and logs["loss/gp"] > 0
    assert len(model.discriminator.seen) == 3  # real, fake, interpolates
    loss.backward()


def test_trains_through_lightning_and_logs_the_class_terms():
    model = make_model(loss=NonSaturatingLoss())
    before = [p.detach().clone() for p in model.parameters()]
    trainer = fit(model)
    assert model.g_step == 4
    assert {"loss/d", "loss/g", "loss/d_class", "loss/g_class", "d/real_class_acc"} <= set(trainer.callback_metrics)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_bad_class_loss_weight():
    with pytest.raises(ValueError, match="model.class_loss_weight must be >= 0, got -1"):
        make_model(class_loss_weight=-1)


def test_model_config_builds_and_is_class_conditional(tmp_path):
    cfg = compose_config("train", ["experiment=acgan_mnist"], tmp_path)
    model = build_model(cfg)
    assert isinstance(model, ConditionalGAN) and model.class_conditional and model.num_classes == 10
    assert isinstance(model.generator, ConditionalDCGANGenerator)
    assert isinstance(model.discriminator, ACGANDiscriminator) and model.class_loss_weight == 1.0
    assert model.fixed_condition.tolist() == list(range(10)) * 10
    x = model.generate(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 28, 28) and model.classify(x).shape == (3, 10)
    assert cfg.metrics.evaluators.class_accuracy is not None  # metrics=conditional
    with pytest.raises(ValueError, match="loss=nope is not supported by ACGAN"):
        ACGAN.check_loss(type("L", (), {"name": "nope"})())


def test_refuses_unlabeled_data():
    dm = LabeledData()
    dm.labeled = False
    with pytest.raises(ValueError, match="ACGAN .*has no class labels"):
        make_model().check_data(dm)
