"""SGAN: the (K+1)-way discriminator, batch splitting, losses wired as documented, no label leak, logging,
exact resume, and a short real-data run that learns to classify MNIST from 100 labels."""

from __future__ import annotations

import copy
import functools

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from gan_lightning.losses import HingeLoss, MinimaxLoss, NonSaturatingLoss
from gan_lightning.losses.semi_supervised import feature_matching_loss, supervised_loss, unsupervised_loss
from gan_lightning.models import build_model
from gan_lightning.models.sgan import SemiSupervisedGAN
from gan_lightning.nets.dcgan import DCGANGenerator
from gan_lightning.nets.sgan import SGANDiscriminator, SGANMLPDiscriminator, SGANMLPGenerator
from gan_lightning.train import train
from tests.hydra_utils import compose_config

TINY = ["data.num_workers=0", "logger=none", "~callbacks.progress_bar", "metrics.generative=null",
        "~callbacks.sample_grid", "~callbacks.lr_monitor", "model.generator.base_width=8",
        "model.discriminator.base_width=8", "data.batch_size=8"]


def make_model(**kwargs) -> SemiSupervisedGAN:
    adam = functools.partial(torch.optim.Adam, lr=1e-3, betas=(0.5, 0.999))
    args = dict(generator=DCGANGenerator(latent_dim=8, channels=1, image_size=28, base_width=8),
                discriminator=SGANDiscriminator(channels=1, image_size=28, num_classes=3, base_width=8),
                loss=NonSaturatingLoss(), optimizer_g=adam, optimizer_d=adam)
    return SemiSupervisedGAN(**{**args, **kwargs})


def make_batch(n_labeled=4, n_unlabeled=6):
    g = torch.Generator().manual_seed(0)
    return {"labeled": (torch.rand(n_labeled, 1, 28, 28, generator=g) * 2 - 1, torch.tensor([0, 1, 2, 1][:n_labeled])),
            "unlabeled": torch.rand(n_unlabeled, 1, 28, 28, generator=g) * 2 - 1}


def test_discriminator_has_k_plus_1_outputs_and_features():
    d = SGANDiscriminator(channels=1, image_size=28, num_classes=10, base_width=8)
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    assert d(x).shape == (5, 11)
    assert d.features(x).shape == (5, d.feature_dim) == (5, 16 * 7 * 7)
    assert not any(name.startswith("body.head") for name, _ in d.named_parameters())  # no unused 1-logit head
    with pytest.raises(ValueError, match="num_classes"):
        SGANDiscriminator(num_classes=0)
    with pytest.raises(ValueError, match="dropout"):
        SGANDiscriminator(dropout=1.0)


def test_classify_is_the_k_real_class_logits():
    model = make_model().eval()
    x = make_batch()["unlabeled"]
    logits = model.classify(x)
    assert logits.shape == (6, 3)
    torch.testing.assert_close(logits, model.discriminator(x)[:, :3])


@pytest.mark.parametrize("kwargs, match", [
    ({"loss": HingeLoss()}, r"^loss=hinge is not supported by SemiSupervisedGAN \(allowed: loss=non_saturating, "
                            r"loss=minimax\); its unsupervised D loss"),
    ({"feature_matching": False, "lambda_adv": 0.0}, "model.feature_matching=false"),
    ({"lambda_unsup": -1.0}, "model.lambda_unsup"),
    ({"lambda_adv": -0.5}, "model.lambda_adv"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_model(**kwargs)


def test_discriminator_without_k_plus_1_head_is_refused():
    from gan_lightning.nets.dcgan import DCGANDiscriminator

    with pytest.raises(ValueError, match="SGANDiscriminator"):
        make_model(discriminator=DCGANDiscriminator(channels=1, image_size=28, base_width=8))


def test_split_batch_n_critic():
    model = make_model(n_critic=2)
    batch = make_batch(n_unlabeled=6)
    parts = model.split_batch(batch)
    assert len(parts) == 2
    assert torch.equal(torch.cat([p["unlabeled"] for p in parts]), batch["unlabeled"])  # disjoint, in order
    assert all(p["labeled"] is batch["labeled"] for p in parts)
    with pytest.raises(ValueError, match="n_critic=4"):
        make_model(n_critic=4).split_batch(batch)


def test_discriminator_loss_is_sup_plus_weighted_unsup():
    model = make_model(lambda_unsup=0.3, discriminator=SGANDiscriminator(channels=1, image_size=28, num_classes=3,
                                                                         base_width=8, dropout=0.0))
    batch = make_batch()
    reference = copy.deepcopy(model)
    torch.manual_seed(1)
    loss, logs = model.discriminator_loss(batch)
    # By hand: the same fakes (same seed); the real images in one pass, the fakes in their own (BatchNorm on each
    # set's statistics); L_unsup on the unlabeled images only, as in the authors' code.
    torch.manual_seed(1)
    (x_l, y_l), x_u = batch["labeled"], batch["unlabeled"]
    with torch.no_grad():
        fake = reference.generator(reference.sample_latent(6))
        real_logits = reference.discriminator(torch.cat([x_l, x_u]))
        fake_logits = reference.discriminator(fake)
    sup = supervised_loss(real_logits[:4], y_l)
    unsup = unsupervised_loss(real_logits[4:], fake_logits)
    assert loss.item() == pytest.approx((sup + 0.3 * unsup).item(), rel=1e-5)
    assert logs["loss/d_supervised"].item() == pytest.approx(sup.item(), rel=1e-5)
    assert logs["loss/d_unsupervised"].item() == pytest.approx(unsup.item(), rel=1e-5)
    assert 0 <= logs["d/real_score"].item() <= 1 and 0 <= logs["d/fake_score"].item() <= 1


def _running_stats(net):
    return {k: v.clone() for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}


def test_batchnorm_running_statistics_see_real_images_only():
    """The conv SGAN's D: a D step updates BatchNorm's running statistics from the real images alone, a G step
    changes none, so the test-time classifier normalises with statistics of real data."""
    model = make_model()
    batch = make_batch()
    (x_l, _), x_u = batch["labeled"], batch["unlabeled"]
    real_only = copy.deepcopy(model.discriminator)
    real_only(torch.cat([x_l, x_u]))  # one train-mode pass over the real images
    torch.manual_seed(3)
    model.discriminator_loss(batch)
    after_d = _running_stats(model.discriminator)
    expected = _running_stats(real_only)
    assert after_d.keys() == expected.keys() and after_d
    for key in expected:
        torch.testing.assert_close(after_d[key], expected[key], msg=key)
    model.generator_loss({**batch, "unlabeled_g": x_u.flip(0)})
    for key, value in _running_stats(model.discriminator).items():
        assert torch.equal(value, after_d[key]), key  # the G step changed no running statistic


def test_generator_step_uses_the_second_unlabeled_batch():
    model = make_model()
    batch = make_batch()
    other = {**batch, "unlabeled_g": torch.rand(6, 1, 28, 28) * 2 - 1}
    torch.manual_seed(4)
    plain, _ = model.generator_loss(batch)
    torch.manual_seed(4)
    second, _ = model.generator_loss(other)
    torch.manual_seed(4)
    same, _ = model.generator_loss({**batch, "unlabeled_g": batch["unlabeled"]})
    assert same.item() == pytest.approx(plain.item()) and second.item() != pytest.approx(plain.item())


def make_mlp_model(**kwargs) -> SemiSupervisedGAN:
    adam = functools.partial(torch.optim.Adam, lr=3e-3, betas=(0.5, 0.999))
    args = dict(generator=SGANMLPGenerator(latent_dim=8, image_shape=(1, 28, 28), hidden_dims=(16,)),
                discriminator=SGANMLPDiscriminator(image_shape=(1, 28, 28), num_classes=3, hidden_dims=(32, 16)),
                loss=NonSaturatingLoss(), optimizer_g=adam, optimizer_d=adam, d_average_decay=0.9,
                lambda_unsup=0.5, feature_matching_reduction="mean")
    return SemiSupervisedGAN(**{**args, **kwargs})


def test_averaged_discriminator_starts_at_zero_follows_d_and_classifies():
    model = make_mlp_model()
    average = model.discriminator_average
    assert all(torch.equal(p, torch.zeros_like(p)) for p in average.parameters())
    assert not any(p.requires_grad for p in average.parameters())
    old = {k: v.clone() for k, v in average.named_parameters()}
    with torch.no_grad():
        for p in model.discriminator.parameters():
            p.add_(1.0)
    model.after_discriminator_step()
    for name, p in model.discriminator.named_parameters():
        expected = old[name] + (1 - 0.9) * (p - old[name])  # a <- a + (1 - decay) (p - a)
        torch.testing.assert_close(dict(average.named_parameters())[name], expected)
    model.eval()
    x = make_batch()["unlabeled"]
    torch.testing.assert_close(model.classify(x), average(x)[:, :3])
    torch.testing.assert_close(model.classify(x, averaged=False), model.discriminator(x)[:, :3])
    assert not torch.allclose(model.classify(x), model.classify(x, averaged=False))
    assert make_model().discriminator_average is None  # the conv SGAN keeps no average by default


def test_uniform_latent_prior_of_the_generator():
    model = make_mlp_model()
    z = model.sample_latent(1000)
    assert z.min() >= 0 and z.max() < 1 and abs(z.mean().item() - 0.5) < 0.02
    assert model.fixed_z.min() >= 0 and model.fixed_z.max() < 1
    assert make_model().sample_latent(1000).min() < 0  # N(0, I) for the other generators


@pytest.mark.parametrize("kwargs, match", [
    ({"d_average_decay": 1.0}, "model.d_average_decay"),
    ({"init_batch_size": 1}, "model.init_batch_size"),
    ({"feature_matching_reduction": "max"}, "model.feature_matching_reduction"),
])
def test_bad_mlp_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_mlp_model(**kwargs)


def test_generator_loss_feature_matching_and_adversarial_term():
    batch = make_batch()
    fm_only = make_model()
    torch.manual_seed(2)
    loss, logs = fm_only.generator_loss(batch)
    assert set(logs) == {"loss/g_feature_matching"} and loss.item() == pytest.approx(logs["loss/g_feature_matching"].item())
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in fm_only.generator.parameters() if p.dim() > 1)

    both = make_model(lambda_adv=0.5, loss=MinimaxLoss())
    torch.manual_seed(2)
    loss, logs = both.generator_loss(batch)
    assert set(logs) == {"loss/g_feature_matching", "loss/g_adversarial"}
    expected = logs["loss/g_feature_matching"] + 0.5 * logs["loss/g_adversarial"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["loss/g_adversarial"].item() < 0  # minimax G term: log(1 - D(G(z))) < 0

    # Real features enter as constants: G's loss is the squared distance of the feature means.
    real = torch.randn(4, 3)
    assert feature_matching_loss(real, real + 1.0).item() == pytest.approx(3.0)


def _fit_tiny(cfg, poison_unlabeled_labels: bool = False, shift_labeled_labels: bool = False):
    """3 SGAN steps on real MNIST from `cfg`, with the datamodule built here so its labels can be tampered with."""
    pl.seed_everything(cfg.seed)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    full = dm.labeled_set.dataset
    if poison_unlabeled_labels:
        # Labels no loss could accept: any use of them would fail (or change the result).
        unlabeled = torch.tensor(dm.train_set.indices)
        full.targets = full.targets.clone()
        full.targets[unlabeled] = 999
    if shift_labeled_labels:
        dm.labeled_labels = (dm.labeled_labels + 1) % 10
    pl.seed_everything(cfg.seed)
    model = build_model(cfg)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=3, deterministic=True, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_unlabeled_labels_never_reach_a_loss(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config("train", ["experiment=sgan_conv_mnist_100", *TINY], tmp_path)
    clean = _fit_tiny(cfg)
    poisoned = _fit_tiny(cfg, poison_unlabeled_labels=True)
    assert clean.keys() == poisoned.keys()
    for key in clean:
        assert torch.equal(clean[key], poisoned[key]), key
    # Guard: the labeled labels do reach the loss, so the comparison above can see a label change.
    shifted = _fit_tiny(cfg, shift_labeled_labels=True)
    assert any(not torch.equal(clean[k], shifted[k]) for k in clean if clean[k].is_floating_point())


def test_logged_values(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config("train", ["experiment=sgan_conv_mnist_100", "max_g_steps=2", "trainer.log_every_n_steps=1",
                                   "metrics.evaluators.test_error.max_samples=100", *TINY], tmp_path)
    metrics = train(cfg)
    expected = {"loss/d", "loss/g", "loss/d_supervised", "loss/d_unsupervised", "loss/g_feature_matching",
                "d/real_score", "d/fake_score", "metrics/test_error"}
    assert expected <= set(metrics)
    assert metrics["trainer/g_step"] == 2
    assert 0.0 <= metrics["metrics/test_error"] <= 1.0
    assert metrics["loss/d"] == pytest.approx(metrics["loss/d_supervised"] + metrics["loss/d_unsupervised"], rel=1e-5)


CONV = ["experiment=sgan_conv_mnist_100", "model.n_critic=2", *TINY]
# The authors' MLP setup (weight norm, noise, averaged D, second unlabeled stream, data-dependent init), narrowed.
MLP = ["experiment=sgan_mnist_100", "data.num_workers=0", "logger=none", "~callbacks.progress_bar",
       "metrics.generative=null", "~callbacks.sample_grid", "~callbacks.lr_monitor", "data.batch_size=8",
       "model.generator.hidden_dims=[16]", "model.discriminator.hidden_dims=[32,16]", "model.init_batch_size=20",
       "model.d_average_decay=0.9"]


def _run(tmp_path, name, g_steps, setup, extra=()):
    out = tmp_path / name
    cfg = compose_config("train", [f"max_g_steps={g_steps}", "trainer.deterministic=true",
                                   "trainer.accelerator=cpu", "+trainer.limit_train_batches=3",
                                   "callbacks.model_checkpoint.every_n_g_steps=2", "~metrics.evaluators.test_error",
                                   "seed=3", *setup, *extra], out)
    train(cfg)
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.mark.parametrize("setup", [CONV, MLP], ids=["conv", "mlp"])
def test_resume_is_bit_exact(data_dir, tmp_path, monkeypatch, setup):
    """5 steps straight == 2 steps, resume, 3 more (epochs of 3 batches: the resume crosses one). The MLP setup's
    averaged D is in the checkpoint and resumes exactly too."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    if setup is MLP:
        setup = [*MLP, "~metrics.evaluators.test_error_raw"]
    straight = _run(tmp_path, "straight", 5, setup)
    _run(tmp_path, "first", 2, setup)
    resumed = _run(tmp_path, "resumed", 5, setup, [f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.ckpt'}"])
    assert straight["gan_lightning"]["g_step"] == resumed["gan_lightning"]["g_step"] == 5
    assert straight["state_dict"].keys() == resumed["state_dict"].keys()
    if setup is not CONV:
        assert any(k.startswith("discriminator_average.") for k in straight["state_dict"])
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key


def test_fresh_mlp_run_starts_from_a_data_dependent_init(data_dir, tmp_path, monkeypatch):
    """The hidden layers' weight-norm scales are buffers that no optimizer touches: after one step of a fresh run
    they hold the data-dependent init, 1 / std of each unit's pre-activation on the init images (not 1)."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config("train", ["max_g_steps=1", "~metrics.evaluators.test_error_raw", "seed=3", *MLP], tmp_path)
    assert not isinstance(build_model(cfg).discriminator.body[2].g, torch.nn.Parameter)
    train(cfg)
    scales = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for key in ("discriminator.body.2.g", "discriminator.body.5.g"):
        g = scales[key]
        assert not torch.allclose(g, torch.ones_like(g)) and (g > 0).all(), key
        assert torch.equal(scales[key.replace("discriminator.", "discriminator_average.")], g)  # buffers follow D


# Generator steps of batch 100 labeled + 100 unlabeled images. Measured on 2 shared CPU cores (lr 3e-3): test
# error 0.27 / 0.29 after 40 steps, 0.28 / 0.31 after 20 and 0.21 / 0.21 after 300 (seeds 42 / 7); chance is 0.9.
LEARN_G_STEPS = 40


@pytest.mark.slow
def test_conv_sgan_learns_mnist_from_100_labels(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config("train", ["experiment=sgan_conv_mnist_100", f"max_g_steps={LEARN_G_STEPS}",
                                   "data.num_workers=0", "logger=none", "~callbacks.progress_bar",
                                   "metrics.generative=null", "~callbacks.sample_grid", "~callbacks.lr_monitor",
                                   "metrics.evaluators.test_error.max_samples=2000"], tmp_path)
    metrics = train(cfg)
    print(f"SGAN test error after {LEARN_G_STEPS} steps: {metrics['metrics/test_error']:.4f}")
    assert metrics["metrics/test_error"] < 0.5  # chance: 0.9


# The authors' MLP setup, 3 epochs (1797 generator steps): measured test error at epoch 3, averaged D 0.209 /
# 0.160 / 0.169 and raw D 0.188 / 0.173 / 0.172 (seeds 0 / 1 / 2, 3 runs sharing 2 CPU cores; docs/RESULTS.md).
# Chance is 0.9; the bound leaves a margin of 0.09 over the worst of them.
MLP_EPOCHS, MLP_BOUND = 3, 0.30


@pytest.mark.slow
def test_mlp_sgan_learns_mnist_from_100_labels_in_3_epochs(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config("train", ["experiment=sgan_mnist_100", f"trainer.max_epochs={MLP_EPOCHS}", "seed=0",
                                   "data.num_workers=0", "logger=none", "~callbacks.progress_bar",
                                   "metrics.generative=null", "~callbacks.sample_grid", "~callbacks.lr_monitor"],
                         tmp_path)
    metrics = train(cfg)
    print(f"SGAN (MLP) after {MLP_EPOCHS} epochs: test error {metrics['metrics/test_error']:.4f} (averaged D), "
          f"{metrics['metrics/test_error_raw']:.4f} (raw D)")
    assert metrics["trainer/g_step"] == MLP_EPOCHS * 599
    assert metrics["metrics/test_error"] < MLP_BOUND and metrics["metrics/test_error_raw"] < MLP_BOUND


def test_plain_labeled_batches_are_refused():
    images = torch.zeros(4, 1, 28, 28)
    with pytest.raises(ValueError, match="data=mnist_semi"):
        make_model().split_batch((images, torch.zeros(4, dtype=torch.long)))
