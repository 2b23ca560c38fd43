"""What each model declares about itself: the adversarial losses it trains with (any other is refused at
construction, one line naming loss=<name> and the choices) and whether it is class-conditional (its G draws the
class it is given), checked against each experiment's real model."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from gan_lightning.losses import NonSaturatingLoss
from gan_lightning.models import GAN, build_model
from gan_lightning.sample import class_labels
from gan_lightning.utils.config import instantiate
from tests.hydra_utils import compose_config
from tests.models.test_cyclegan import TINY as CYCLEGAN_TINY
from tests.models.test_pix2pix import TINY as PIX2PIX_TINY

CONF_LOSSES = ("minimax", "non_saturating", "lsgan", "hinge", "wgan_gp")  # conf/loss/<name>.yaml
LOSS_TARGETS = {
    "minimax": "gan_lightning.losses.MinimaxLoss",
    "non_saturating": "gan_lightning.losses.NonSaturatingLoss",
    "lsgan": "gan_lightning.losses.LSGANLoss",
    "hinge": "gan_lightning.losses.HingeLoss",
    "wgan_gp": "gan_lightning.losses.WGANGPLoss",
    "categorical": "gan_lightning.losses.categorical.CategoricalLoss",
}
SMALL = ["model.generator.base_width=8", "model.discriminator.base_width=8"]
# experiment: (overrides, model class name, the losses it must accept, class-conditional). Written out by hand,
# not read from the classes: a model that starts accepting a loss it does not train with fails here.
PLAIN = {"minimax", "non_saturating", "lsgan", "hinge"}
MODELS = {
    "gan_mnist": ([], "GAN", PLAIN | {"wgan_gp"}, False),
    "dcgan_mnist": (SMALL, "GAN", PLAIN | {"wgan_gp"}, False),
    "cgan_mnist": (SMALL, "ConditionalGAN", PLAIN | {"wgan_gp"}, True),
    "acgan_mnist": (SMALL, "ACGAN", PLAIN | {"wgan_gp"}, True),
    "sgan_conv_mnist_100": (SMALL, "SemiSupervisedGAN", {"minimax", "non_saturating"}, False),
    "catgan_conv_mnist_unsup": (SMALL, "CatGAN", {"categorical"}, False),
    "pix2pix_labels2fashion": (PIX2PIX_TINY, "Pix2Pix", PLAIN, False),
    "cyclegan_sneaker2boot": (CYCLEGAN_TINY, "CycleGAN", PLAIN, False),
}


TRANSLATION = ["pix2pix_labels2fashion", "cyclegan_sneaker2boot"]


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("cfg")
    return {name: compose_config("train", [f"experiment={name}", *overrides], out / name)
            for name, (overrides, *_rest) in MODELS.items()}


def with_loss(cfg, name: str):
    cfg = OmegaConf.to_container(cfg, resolve=True)
    cfg["loss"] = {"_target_": LOSS_TARGETS[name]}
    return OmegaConf.create(cfg)


@pytest.mark.parametrize("name", CONF_LOSSES)
def test_each_loss_config_is_named_as_its_loss(name, tmp_path):
    """The error's `loss=<name>` is the command-line choice that builds that loss."""
    loss = instantiate(compose_config("train", [f"loss={name}"], tmp_path).loss)
    assert loss.name == name
    assert loss.has_regularizer == (name == "wgan_gp")


@pytest.mark.parametrize("experiment", MODELS)
def test_model_accepts_its_losses_and_refuses_the_others_in_one_line(experiment, configs):
    _, cls_name, accepted, _ = MODELS[experiment]
    for loss in LOSS_TARGETS:
        cfg = with_loss(configs[experiment], loss)
        if loss in accepted:
            model = build_model(cfg)
            assert type(model).__name__ == cls_name and model.loss.name == loss
            continue
        with pytest.raises(ValueError) as info:
            build_model(cfg)
        message = str(info.value)
        assert "\n" not in message
        match = re.match(rf"^loss={loss} is not supported by {cls_name} \(allowed: ([^)]*)\)", message)
        assert match, message
        assert set(match[1].split(", ")) == {f"loss={n}" for n in accepted}


class Penalized(NonSaturatingLoss):
    """The non-saturating loss plus a constant D regularizer of 5 (stands in for a gradient penalty)."""

    def regularizer(self, discriminator, real, fake):
        return real.new_tensor(5.0)


@pytest.mark.parametrize("experiment", [*TRANSLATION, "sgan_conv_mnist_100"])
def test_a_regularizer_the_model_does_not_apply_is_refused(experiment, configs):
    """A supported name is not enough: the penalty would be silently left out of D's loss."""
    cfg = OmegaConf.to_container(configs[experiment], resolve=True)
    cfg["loss"] = {"_target_": f"{__name__}.Penalized"}
    with pytest.raises(ValueError, match=r"^loss=non_saturating \(Penalized\) adds a regularizer to the D loss that "
                                         rf"{MODELS[experiment][1]} does not apply"):
        build_model(OmegaConf.create(cfg))


@pytest.mark.parametrize("experiment", ["gan_mnist", "cgan_mnist"])
def test_models_that_accept_a_regularizer_add_it_to_the_d_loss(experiment, configs):
    cfg = OmegaConf.to_container(configs[experiment], resolve=True)
    cfg["loss"] = {"_target_": f"{__name__}.Penalized"}
    penalized = build_model(OmegaConf.create(cfg))
    plain = build_model(with_loss(configs[experiment], "non_saturating"))
    plain.load_state_dict(penalized.state_dict())
    batch = (torch.rand(4, 1, 28, 28) * 2 - 1, torch.arange(4))
    losses = []
    for model in (penalized, plain):
        torch.manual_seed(0)
        losses.append(model.discriminator_loss(batch))
    (with_penalty, logs), (without, _) = losses
    assert float((with_penalty - without).detach()) == pytest.approx(5.0)
    assert float(logs["loss/gp"]) == 5.0


# ----------------------------------------------------------------------------------- class-conditional
@pytest.mark.parametrize("experiment", [e for e in MODELS if e not in TRANSLATION])
def test_class_conditional_means_the_generator_draws_the_given_class(experiment, configs):
    """Only a model whose G output depends on the label answers class_conditional; SGAN and CatGAN have
    num_classes but draw the same images whatever label they are handed."""
    conditional = MODELS[experiment][3]
    model = build_model(with_loss(configs[experiment], next(iter(MODELS[experiment][2]))))
    assert model.class_conditional is conditional
    z = model.sample_latent(6, torch.Generator().manual_seed(0))
    zeros, ones = torch.zeros(6, dtype=torch.long), torch.ones(6, dtype=torch.long)
    differ = not torch.equal(model.generate_from(z, zeros), model.generate_from(z, ones))
    assert differ is conditional
    if not conditional:
        with pytest.raises(ValueError, match="class-conditional checkpoint"):
            class_labels(model, 2)


@pytest.mark.parametrize("experiment", TRANSLATION)
def test_translation_models_are_not_class_conditional(experiment, configs):
    model = build_model(configs[experiment])
    assert model.class_conditional is False


class LabelAwareGAN(GAN):
    """A GAN that declares itself class-conditional (its G ignores labels: only the data checks are exercised)."""

    class_conditional = True
    num_classes = 10


def test_class_conditional_alone_makes_a_model_check_its_data(configs):
    """A new class-conditional model needs no labels_required / check_data of its own: the flag brings both."""
    cfg = OmegaConf.to_container(configs["gan_mnist"], resolve=True)
    cfg["model"]["_target_"] = f"{__name__}.LabelAwareGAN"
    model, plain = build_model(OmegaConf.create(cfg)), build_model(configs["gan_mnist"])
    unlabeled = SimpleNamespace(name="pngs", labeled=False, num_classes=None)
    with pytest.raises(ValueError, match=r"^LabelAwareGAN draws the class it is given and trains on class labels, "
                                         r"but data pngs has no class labels: use a labeled dataset"):
        model.check_data(unlabeled)
    with pytest.raises(ValueError, match=r"^model.num_classes=10 but the data \(cifar100\) has 100 classes"):
        model.check_data(SimpleNamespace(name="cifar100", labeled=True, num_classes=100))
    model.check_data(SimpleNamespace(name="mnist", labeled=True, num_classes=10))
    plain.check_data(unlabeled)  # an unconditional GAN trains on unlabeled images
