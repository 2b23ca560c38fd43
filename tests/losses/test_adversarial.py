"""Adversarial losses: hand-computed values, numerical stability, gradient penalty, configs."""

import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gan_lightning import CONFIG_DIR
from gan_lightning.losses import (
    AdversarialLoss,
    HingeLoss,
    LSGANLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WGANGPLoss,
    gradient_penalty,
)
from tests.hydra_utils import compose_config

LOG2 = math.log(2.0)
# Each conf/loss/<name>.yaml and the class it must build.
LOSSES = {cls.name: cls for cls in (MinimaxLoss, NonSaturatingLoss, LSGANLoss, HingeLoss, WGANGPLoss)}


def sp(x: float) -> float:
    """softplus(x) = log(1 + e^x), written out by hand."""
    return math.log1p(math.exp(x))


# Shared inputs: real logits r = [2, -1], fake logits f = [0, 3].
R = [2.0, -1.0]
F = [0.0, 3.0]
# Expected (D loss, G loss), each derived by hand from the formulas:
EXPECTED = {
    # D: mean(softplus(-r)) + mean(softplus(f)); G: -mean(softplus(f))
    "minimax": ((sp(-2) + sp(1)) / 2 + (LOG2 + sp(3)) / 2, -(LOG2 + sp(3)) / 2),
    # G: mean(softplus(-f)) = (log 2 + log(1 + e^-3)) / 2
    "non_saturating": ((sp(-2) + sp(1)) / 2 + (LOG2 + sp(3)) / 2, (LOG2 + sp(-3)) / 2),
    # D: 0.5*mean([1, 4]) + 0.5*mean([0, 9]) = 1.25 + 2.25; G: 0.5*mean([1, 4])
    "lsgan": (3.5, 1.25),
    # D: mean(relu([-1, 2])) + mean(relu([1, 4])) = 1 + 2.5; G: -mean(f)
    "hinge": (3.5, -1.5),
    # D: mean(f) - mean(r) = 1.5 - 0.5; G: -mean(f)
    "wgan_gp": (1.0, -1.5),
}


def test_softplus_literals():
    # Pin the hand helpers to literal numbers so the table above is verifiable on paper.
    assert sp(-2) == pytest.approx(0.126928011)
    assert sp(1) == pytest.approx(1.313261688)
    assert sp(3) == pytest.approx(3.048587352)
    assert EXPECTED["minimax"][0] == pytest.approx(2.590961637)
    assert EXPECTED["non_saturating"][1] == pytest.approx(0.370867266)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hand_computed_values(name):
    loss = LOSSES[name]()
    d_exp, g_exp = EXPECTED[name]
    r, f = torch.tensor(R), torch.tensor(F)
    assert loss.discriminator_loss(r, f).item() == pytest.approx(d_exp, abs=1e-6)
    assert loss.generator_loss(f).item() == pytest.approx(g_exp, abs=1e-6)


@pytest.mark.parametrize("cls", [MinimaxLoss, NonSaturatingLoss])
def test_bce_at_zero_logits_is_2log2(cls):
    z = torch.zeros(8)
    assert cls().discriminator_loss(z, z).item() == pytest.approx(2 * LOG2)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_patch_maps_average_over_all_dims(name):
    loss = LOSSES[name]()
    r, f = torch.randn(4, 1, 5, 5), torch.randn(4, 1, 5, 5)
    d = loss.discriminator_loss(r, f)
    assert d.dim() == 0
    assert d.item() == pytest.approx(loss.discriminator_loss(r.flatten(), f.flatten()).item(), abs=1e-6)
    assert loss.generator_loss(f).item() == pytest.approx(loss.generator_loss(f.flatten()).item(), abs=1e-6)


@pytest.mark.parametrize("cls", [MinimaxLoss, NonSaturatingLoss])
def test_extreme_logits_are_finite(cls):
    r = torch.tensor([100.0, -100.0], requires_grad=True)
    f = torch.tensor([100.0, -100.0], requires_grad=True)
    loss = cls()
    total = loss.discriminator_loss(r, f) + loss.generator_loss(f)
    total.backward()
    assert torch.isfinite(total)
    assert torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all()
    # -log(sigmoid(-100)) would be inf in float32 without softplus; here it is ~100.
    assert loss.discriminator_loss(torch.tensor([-100.0]), torch.tensor([100.0])).item() == pytest.approx(200.0)


def test_minimax_generator_saturates_non_saturating_does_not():
    # D confidently rejects the fake (D(G(z)) = sigmoid(-10) ~ 4.5e-5).
    grads = {}
    for cls in (MinimaxLoss, NonSaturatingLoss):
        f = torch.tensor([-10.0], requires_grad=True)
        cls().generator_loss(f).backward()
        grads[cls.name] = f.grad.abs().item()
    # d/df [-softplus(f)] = -sigmoid(f); d/df softplus(-f) = -sigmoid(-f)
    assert grads["minimax"] == pytest.approx(1 / (1 + math.exp(10)), rel=1e-4) and grads["minimax"] < 1e-4
    assert grads["non_saturating"] == pytest.approx(1 / (1 + math.exp(-10)), rel=1e-4)
    assert grads["non_saturating"] > 0.99


def test_score():
    logits = torch.tensor([-100.0, -3.0, 0.0, 3.0, 100.0])
    for cls in (MinimaxLoss, NonSaturatingLoss):
        s = cls().score(logits)
        assert ((s >= 0) & (s <= 1)).all()
        assert s[2].item() == pytest.approx(0.5)
    for cls in (LSGANLoss, HingeLoss, WGANGPLoss):
        assert torch.equal(cls().score(logits), logits)


def _linear_critic(w: torch.Tensor):
    # D(x) = sum(w * x): its input gradient is w everywhere, so the GP has a closed form.
    return lambda x: (x.flatten(1) * w).sum(1)


@pytest.mark.parametrize("shape", [(8, 6), (8, 3, 4, 4)])
def test_gradient_penalty_unit_norm_is_zero(shape):
    w = torch.randn(math.prod(shape[1:]))
    w = w / w.norm()
    gp = gradient_penalty(_linear_critic(w), torch.randn(shape), torch.randn(shape))
    assert gp.item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("norm,lam", [(3.0, 10.0), (0.5, 10.0), (2.0, 1.0)])
def test_wgan_gp_regularizer_closed_form(norm, lam):
    shape = (5, 2, 3, 3)
    w = torch.randn(math.prod(shape[1:]))
    w = (w * norm / w.norm()).requires_grad_(True)
    gp = WGANGPLoss(lambda_gp=lam).regularizer(_linear_critic(w), torch.randn(shape), torch.randn(shape))
    assert gp.item() == pytest.approx(lam * (norm - 1) ** 2, rel=1e-5)
    # create_graph=True: the penalty back-propagates into D's parameters.
    # d/dw lam*(||w|| - 1)^2 = 2*lam*(||w|| - 1) * w / ||w||
    gp.backward()
    expected = 2 * lam * (norm - 1) * w.detach() / norm
    assert torch.allclose(w.grad, expected, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_does_not_reach_generator():
    g_param = torch.ones(1, requires_grad=True)
    fake = torch.randn(4, 3) * g_param
    d = torch.nn.Linear(3, 1)
    gradient_penalty(lambda x: d(x).squeeze(-1), torch.randn(4, 3), fake).backward()
    assert g_param.grad is None
    assert d.weight.grad is not None


def test_gradient_penalty_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(lambda x: x.sum(1), torch.randn(4, 3), torch.randn(4, 2))


def test_lambda_gp_validation():
    with pytest.raises(ValueError, match=r"lambda_gp.*-1"):
        WGANGPLoss(lambda_gp=-1.0)
    assert WGANGPLoss(lambda_gp=0.0).lambda_gp == 0.0


def test_regularizer_none_by_default():
    x = torch.randn(2, 3)
    for cls in (MinimaxLoss, NonSaturatingLoss, LSGANLoss, HingeLoss):
        assert cls().regularizer(lambda t: t.sum(1), x, x) is None


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        AdversarialLoss().generator_loss(torch.zeros(1))
    with pytest.raises(NotImplementedError):
        AdversarialLoss().discriminator_loss(torch.zeros(1), torch.zeros(1))


@pytest.mark.parametrize("name", ["minimax", "non_saturating", "lsgan", "hinge", "wgan_gp"])
def test_configs_instantiate_registry_class(name):
    cfg = OmegaConf.load(CONFIG_DIR / "loss" / f"{name}.yaml")
    if name == "wgan_gp":  # a _global_ package: it also sets model.n_critic (Gulrajani 2017, Alg. 1)
        assert cfg.model.n_critic == 5
        cfg = cfg.loss
    loss = instantiate(cfg)
    assert type(loss) is LOSSES[name] and loss.name == name
    if name == "wgan_gp":
        assert loss.lambda_gp == 10.0


@pytest.mark.parametrize("cls", [MinimaxLoss, NonSaturatingLoss])
def test_one_sided_label_smoothing(cls):
    """Real target 1 - s (Salimans 2016, sec. 3.4): -(1 - s) log D(x) - s log(1 - D(x)); fakes and G unchanged."""
    s, r, f = 0.1, torch.tensor(R), torch.tensor(F)
    smooth, plain = cls(label_smoothing=s), cls()
    real_term = sum((1 - s) * sp(-x) + s * sp(x) for x in R) / len(R)
    fake_term = sum(sp(x) for x in F) / len(F)
    assert smooth.discriminator_loss(r, f).item() == pytest.approx(real_term + fake_term, abs=1e-6)
    assert smooth.generator_loss(f).item() == plain.generator_loss(f).item()
    # The real term's minimum moves from logit -> inf to logit(1 - s) = log 9.
    logit = torch.tensor([math.log(9.0)], requires_grad=True)
    smooth.discriminator_loss(logit, torch.zeros(1)).backward()
    assert logit.grad.abs().item() < 1e-6
    assert cls(label_smoothing=0.0).discriminator_loss(r, f).item() == pytest.approx(EXPECTED["minimax"][0], abs=1e-6)


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan")])
def test_label_smoothing_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="label_smoothing"):
        NonSaturatingLoss(label_smoothing=bad)


def test_smoothed_loss_config_and_switching_loss_away_from_it(tmp_path):
    """loss=non_saturating_smoothed extends non_saturating with 0.9 targets; experiment=gan_mnist uses it, and a
    `loss=` choice on top replaces it whole (no label_smoothing left for a loss without one)."""
    smoothed = instantiate(compose_config("train", ["experiment=gan_mnist"], tmp_path / "a").loss)
    assert type(smoothed) is NonSaturatingLoss and smoothed.label_smoothing == 0.1
    plain = instantiate(compose_config("train", ["loss=non_saturating"], tmp_path / "b").loss)
    assert plain.label_smoothing == 0.0
    switched = compose_config("train", ["experiment=gan_mnist", "loss=lsgan"], tmp_path / "c")
    assert type(instantiate(switched.loss)) is LSGANLoss
