"""CatGAN: configuration errors, the losses it trains with, labels ignored when unsupervised,
semi-supervised dict batches, and a short real-MNIST run that clusters clearly above chance."""

from __future__ import annotations

import copy
import functools
import math

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from gan_lightning.losses import NonSaturatingLoss
from gan_lightning.losses.categorical import CategoricalLoss, conditional_entropy, marginal_entropy
from gan_lightning.models.catgan import CatGAN
from gan_lightning.nets.catgan import CatGANDiscriminator
from gan_lightning.train import train
from tests.hydra_utils import compose_config

K = 3


class TinyG(nn.Module):
    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 48), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 3, 4, 4)


class TinyD(nn.Module):
    num_classes = K

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.LeakyReLU(0.2), nn.Linear(16, K))

    def forward(self, x):
        return self.net(x)


def make_model(**kwargs) -> CatGAN:
    adam = functools.partial(torch.optim.Adam, lr=1e-3, betas=(0.5, 0.999))
    return CatGAN(TinyG(), TinyD(), adam, adam, **{"num_classes": K, **kwargs})


def fit(model: CatGAN, loader: DataLoader, max_steps: int | None = None) -> pl.Trainer:
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(model, loader)
    return trainer


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---------------------------------------------------------------------------------------------- construction
@pytest.mark.parametrize(("kwargs", "match"), [
    ({"mode": "supervised"}, "model.mode"),
    ({"num_classes": 1}, "model.num_classes"),
    ({"lambda_ce": -1.0}, "model.lambda_ce"),
    ({"lambda_ce": float("nan")}, "model.lambda_ce"),
    ({"loss": NonSaturatingLoss()}, "CategoricalLoss"),
    ({"num_classes": 4}, "discriminator outputs 3 logits"),
])
def test_invalid_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_model(**kwargs)


def test_classify_and_discriminator_shapes():
    model = make_model()
    assert isinstance(model.loss, CategoricalLoss)
    assert model.classify(images(5)).shape == (5, K)
    d = CatGANDiscriminator(channels=1, image_size=28, num_classes=10, base_width=8)
    x = torch.zeros(2, 1, 28, 28)
    assert d(x).shape == (2, 10) and d.features(x).shape == (2, d.feature_dim)
    with pytest.raises(ValueError, match=r"x must be \(N, 1, 28, 28\)"):
        d(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="num_classes"):
        CatGANDiscriminator(num_classes=1)


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_experiment_configs(dataset, tmp_path):
    configs = []
    for experiment in (f"catgan_{dataset}_unsup", f"catgan_{dataset}_100"):
        cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
        # resolved now: ${hydra:...} reads the config composed last
        assert cfg.metrics.classifier_path.endswith(f"/{dataset}_28.pt")
        assert cfg.model._target_ == "gan_lightning.models.catgan.CatGAN" and cfg.data.batch_size == 100
        assert isinstance(instantiate(cfg.loss), CategoricalLoss)
        configs.append(cfg)
    unsup, semi = configs
    for cfg in configs:  # the permutation-invariant MLPs, z ~ U(0, 1)
        assert cfg.model.discriminator._target_ == "gan_lightning.nets.catgan.CatGANMLPDiscriminator"
        assert cfg.model.generator._target_ == "gan_lightning.nets.mlp.MLPGenerator"
        assert cfg.model.generator.latent_distribution == "uniform"
    assert unsup.model.mode == "unsupervised" and "Semi" not in unsup.data._target_
    assert unsup.metrics.evaluators.clustering._target_ == "gan_lightning.metrics.ClusteringEvaluator"
    assert semi.model.mode == "semi_supervised" and semi.data.num_labeled == 100
    assert semi.data._target_.startswith("gan_lightning.data.semi_supervised.")
    assert semi.metrics.evaluators.test_error._target_ == "gan_lightning.metrics.ClassifierErrorEvaluator"


@pytest.mark.parametrize("mode", ["unsup", "100"])
def test_conv_experiment_configs(mode, tmp_path):
    """The DCGAN-convnet variants differ from catgan_mnist_* only in the networks (and their optimizer lines)."""
    conv = compose_config("train", [f"experiment=catgan_conv_mnist_{mode}"], tmp_path / "conv")
    mlp = compose_config("train", [f"experiment=catgan_mnist_{mode}"], tmp_path / "mlp")
    assert conv.model.discriminator._target_ == "gan_lightning.nets.catgan.CatGANDiscriminator"
    assert conv.model.mode == mlp.model.mode and conv.data._target_ == mlp.data._target_
    assert conv.loss._target_ == mlp.loss._target_ and conv.data.batch_size == mlp.data.batch_size == 100


# ---------------------------------------------------------------------------------------------- losses
def test_losses_are_the_categorical_objective():
    model = make_model()
    real = images(6)
    torch.manual_seed(0)
    loss, logs = model.discriminator_loss(real)
    torch.manual_seed(0)
    fake = model.generator(model.sample_latent(6))
    r, f = model.discriminator(real), model.discriminator(fake)
    expected = conditional_entropy(r) - marginal_entropy(r) - conditional_entropy(f)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(logs["d/real_cond_entropy"], conditional_entropy(r).detach())
    torch.testing.assert_close(logs["d/real_marginal_entropy"], marginal_entropy(r).detach())
    torch.testing.assert_close(logs["d/fake_cond_entropy"], conditional_entropy(f).detach())
    torch.testing.assert_close(logs["d/real_score"], 1 - logs["d/real_cond_entropy"] / math.log(K))
    torch.testing.assert_close(logs["d/fake_score"], 1 - logs["d/fake_cond_entropy"] / math.log(K))

    torch.manual_seed(1)
    g_loss, g_logs = model.generator_loss(real)
    torch.manual_seed(1)
    f = model.discriminator(model.generator(model.sample_latent(6)))
    torch.testing.assert_close(g_loss, conditional_entropy(f) - marginal_entropy(f))
    assert set(g_logs) == {"g/fake_cond_entropy", "g/fake_marginal_entropy"}


def test_training_logs_and_updates_both_networks():
    model = make_model()
    d_before = [p.clone() for p in model.discriminator.parameters()]
    g_before = [p.clone() for p in model.generator.parameters()]
    data = TensorDataset(images(24), torch.zeros(24, dtype=torch.long))
    trainer = fit(model, DataLoader(data, batch_size=6))
    assert model.g_step == 4
    metrics = trainer.callback_metrics
    keys = {"loss/d", "loss/g", "d/real_cond_entropy", "d/real_marginal_entropy", "d/fake_cond_entropy",
            "d/real_score", "d/fake_score", "g/fake_cond_entropy", "g/fake_marginal_entropy"}
    assert keys <= set(metrics)
    assert all(0 <= metrics[k] <= math.log(K) + 1e-6 for k in keys if "entropy" in k)
    assert 0 <= metrics["d/real_score"] <= 1 and 0 <= metrics["d/fake_score"] <= 1
    assert "loss/ce" not in metrics
    assert any(not torch.equal(a, b) for a, b in zip(model.discriminator.parameters(), d_before))
    assert any(not torch.equal(a, b) for a, b in zip(model.generator.parameters(), g_before))


# ---------------------------------------------------------------------------------------------- unsupervised
def train_unsupervised(labels: torch.Tensor, n_critic: int = 2) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = make_model(n_critic=n_critic)
    fit(model, DataLoader(TensorDataset(images(48), labels), batch_size=12))
    return model.state_dict()


def test_unsupervised_mode_never_uses_the_labels(monkeypatch):
    true = torch.arange(48) % K
    with_labels = train_unsupervised(true)

    seen: list = []
    original = CatGAN.discriminator_loss
    monkeypatch.setattr(CatGAN, "discriminator_loss", lambda self, b: seen.append(b) or original(self, b))

    def no_cross_entropy(*args, **kwargs):
        raise AssertionError("cross-entropy called in unsupervised mode")

    monkeypatch.setattr(F, "cross_entropy", no_cross_entropy)
    # Nonsense labels (out of range, negative): any use of them would fail or change the result.
    garbage = torch.randint(-10**6, 10**6, (48,), generator=torch.Generator().manual_seed(1))
    without = train_unsupervised(garbage)
    assert seen and all(isinstance(b, torch.Tensor) and b.shape == (6, 3, 4, 4) for b in seen)  # images only
    assert with_labels.keys() == without.keys()
    assert all(torch.equal(with_labels[k], without[k]) for k in with_labels)


def test_unsupervised_mode_refuses_semi_supervised_batches():
    with pytest.raises(ValueError, match="model.mode='unsupervised'"):
        make_model().split_batch({"labeled": (images(2), torch.zeros(2, dtype=torch.long)), "unlabeled": images(2)})


# ---------------------------------------------------------------------------------------------- semi-supervised
class SemiBatches(Dataset):
    """Yields already-batched dicts in the agreed format (loader with batch_size=None)."""

    def __init__(self, num_batches: int, batch: int, n_critic: int):
        self.num_batches, self.batch, self.n_critic = num_batches, batch, n_critic

    def __len__(self):
        return self.num_batches

    def __getitem__(self, i):
        y = torch.arange(self.batch) % K
        x_l = images(self.batch, seed=100 + i) * 0.1 + F.one_hot(y, 48).float().view(-1, 3, 4, 4)
        return {"labeled": (x_l, y), "unlabeled": images(self.n_critic * self.batch, seed=i)}


def semi_batch(batch: int = 6, n_critic: int = 1) -> dict:
    return SemiBatches(1, batch, n_critic)[0]


def test_semi_supervised_split_and_cross_entropy_term():
    model = make_model(mode="semi_supervised", lambda_ce=2.5, n_critic=2)
    batch = semi_batch(batch=4, n_critic=2)
    parts = model.split_batch(batch)
    assert len(parts) == 2
    assert torch.equal(torch.cat([p["unlabeled"] for p in parts]), batch["unlabeled"])
    assert all(p["labeled"][0] is batch["labeled"][0] for p in parts)

    torch.manual_seed(0)
    loss, logs = model.discriminator_loss(parts[0])
    x_l, y_l = batch["labeled"]
    ce = F.cross_entropy(model.discriminator(x_l), y_l)
    torch.manual_seed(0)
    unsupervised_part, _ = model.discriminator_loss(parts[0]["unlabeled"])
    torch.testing.assert_close(loss, unsupervised_part + 2.5 * ce)
    torch.testing.assert_close(logs["loss/ce"], ce.detach())
    assert 0 <= logs["d/labeled_accuracy"] <= 1


def test_semi_supervised_training_fits_the_labeled_examples():
    torch.manual_seed(0)
    model = make_model(mode="semi_supervised", lambda_ce=5.0)
    loader = DataLoader(SemiBatches(100, 6, 1), batch_size=None)
    trainer = fit(model, loader)
    assert model.g_step == 100
    assert {"loss/ce", "d/labeled_accuracy", "loss/d", "loss/g"} <= set(trainer.callback_metrics)
    x_l, y_l = semi_batch()["labeled"]
    model.eval()
    assert (model.classify(x_l).argmax(1) == y_l).float().mean() == 1.0  # the labeled classes are learned


def test_semi_supervised_class_count_must_match_the_data():
    class FiveClasses(pl.LightningDataModule):
        num_classes = 5

        def train_dataloader(self):
            return DataLoader(SemiBatches(2, 6, 1), batch_size=None)

    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ValueError, match="model.num_classes=3 but the data has 5 classes"):
        trainer.fit(make_model(mode="semi_supervised"), datamodule=FiveClasses())


def test_semi_supervised_mode_refuses_plain_batches():
    with pytest.raises(ValueError, match="semi-supervised datamodule"):
        make_model(mode="semi_supervised").split_batch((images(2), torch.zeros(2, dtype=torch.long)))


# ---------------------------------------------------------------------------------------------- real data
# A real-data run scored once at its end by its task metric alone: no logger, checkpoints, grids or FID / IS.
QUIET_RUN = ["data.num_workers=0", "logger=none", "~callbacks.progress_bar", "metrics.generative=null",
             "~callbacks.model_checkpoint", "metrics.every_n_g_steps=0", "callbacks.sample_grid.every_n_g_steps=1000000"]
SEED = 0
# experiment, extra overrides, generator steps, the task metric, and what it must beat (chance: 0.1 accuracy, 0.9
# error). Measured for seeds 0 / 1 / 2: clustering accuracy 0.57 / 0.47 / 0.54 at 300 steps (conv, unsupervised, labels
# never used); test error 0.213 / 0.217 / 0.213 at 200 steps (PI-MLP, 100 labels, 2000 test images).
REAL_MNIST_RUNS = {
    "unsupervised_conv": ("catgan_conv_mnist_unsup", ["data.batch_size=64", "model.generator.base_width=16",
                          "model.discriminator.base_width=16", "metrics.evaluators.clustering.max_samples=2000"],
                          300, "metrics/clustering_accuracy", lambda v: v > 0.3),
    "semi_supervised_pi_mlp": ("catgan_mnist_100", ["metrics.evaluators.test_error.max_samples=2000"],
                               200, "metrics/test_error", lambda v: v < 0.4),
}


@pytest.mark.slow
@pytest.mark.parametrize("run", sorted(REAL_MNIST_RUNS))
def test_catgan_learns_real_mnist(run, data_dir, tmp_path, monkeypatch):
    """Each mode as configured learns far above chance on real MNIST within a few hundred generator steps."""
    experiment, extra, g_steps, name, good = REAL_MNIST_RUNS[run]
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config("train", [f"experiment={experiment}", f"max_g_steps={g_steps}", f"seed={SEED}",
                                   *QUIET_RUN, *extra], tmp_path)
    metrics = train(cfg)
    print(f"{experiment} seed {SEED}: {name} {metrics[name]:.3f} after {g_steps} generator steps")
    assert metrics["trainer/g_step"] == g_steps
    assert good(metrics[name]), metrics[name]


def test_batchnorm_running_statistics_see_real_images_only():
    """D's BatchNorm running statistics (used by the eval-mode classifier) come from the real images alone: the
    generated images of a D step and of a G step change none."""
    d = nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, K))
    d.num_classes = K
    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    model = CatGAN(TinyG(), d, adam, adam, num_classes=K, mode="semi_supervised")
    batch = semi_batch()
    (x_l, _), x_u = batch["labeled"], batch["unlabeled"]
    real_only = copy.deepcopy(d)
    real_only(x_u), real_only(x_l)  # train-mode passes over the real images, in the D step's order
    model.discriminator_loss(batch)
    stats = {k: v.clone() for k, v in d.state_dict().items() if "running" in k or "num_batches" in k}
    expected = {k: v for k, v in real_only.state_dict().items() if k in stats}
    assert stats and stats.keys() == expected.keys()
    for key in stats:
        torch.testing.assert_close(stats[key], expected[key], msg=key)
    model.generator_loss(batch)
    for key, value in d.state_dict().items():
        if key in stats:
            assert torch.equal(value, stats[key]), key  # the G step changed no running statistic
