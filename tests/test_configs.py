"""Every option of every config group composes, and the cheap ones instantiate."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import yaml
from hydra.utils import instantiate

from gan_lightning import CONFIG_DIR
from gan_lightning.models import build_model
from gan_lightning.train import instantiate_group
from tests.hydra_utils import compose_config

GROUPS = {
    "model": {"gan", "dcgan"},
    "data": {"mnist", "fashion_mnist", "cifar10", "image_folder"},
    "loss": {"minimax", "non_saturating", "lsgan", "hinge", "wgan_gp"},
    "trainer": {"default", "cpu", "gpu", "debug"},
    "logger": {"csv", "tensorboard", "wandb", "none"},
    "callbacks": {"default"},
    "experiment": {"gan_mnist", "dcgan_mnist", "dcgan_fashion_mnist",
                   "dcgan_celeba", "dcgan_cifar10", "pix2pix_facades", "cyclegan_horse2zebra"},
}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_group_options_present(group):
    assert GROUPS[group] <= {p.stem for p in (CONFIG_DIR / group).glob("*.yaml")}


def _raw(path):
    return yaml.safe_load(path.read_text())


def _copies(raw: dict, base: dict, prefix: str = "") -> list[str]:
    """Keys of ``raw`` that repeat ``base``'s value (nested dicts compared key by key)."""
    found = []
    for key, value in base.items():
        if key == "_target_" or key not in raw:
            continue
        if isinstance(value, dict) and isinstance(raw[key], dict):
            found += _copies(raw[key], value, f"{prefix}{key}.")
        elif raw[key] == value:
            found.append(prefix + key)
    return found


def _bases(group: str, raw: dict) -> list[str]:
    """The ``defaults`` of a group yaml, with those of the sibling yamls it extends (``/<group>/<name>@_here_``, e.g.
    model=acgan extends model=cgan) in front: a yaml extends a base through a sibling too."""
    found = []
    for entry in raw.get("defaults", []):
        if isinstance(entry, str) and entry.startswith(f"/{group}/") and entry.endswith("@_here_"):
            found += _bases(group, _raw(CONFIG_DIR / group / f"{entry[len(group) + 2:-len('@_here_')]}.yaml"))
        found.append(entry)
    return found


# Every GAN model yaml extends conf/base/gan.yaml (the Adam ones also base/adam.yaml) and every data yaml extends
# conf/base/data.yaml, setting only what differs: a copy of a shared value would drift from its base.
@pytest.mark.parametrize("group,bases", [("model", ("gan", "adam")), ("data", ("data",))])
def test_group_yamls_extend_their_base_without_copies(group, bases):
    base = {name: _raw(CONFIG_DIR / "base" / f"{name}.yaml") for name in bases}
    for path in sorted((CONFIG_DIR / group).glob("*.yaml")):
        raw = _raw(path)
        if "SupervisedBaseline" in raw["_target_"]:
            continue  # no adversarial loop: none of the GAN keys
        defaults = _bases(group, raw)
        assert raw["defaults"][-1] == "_self_" and f"/base/{bases[0]}@_here_" in defaults, path.name
        for name in bases:
            if f"/base/{name}@_here_" in defaults:
                assert not _copies(raw, base[name]), f"{path.name} repeats base/{name}.yaml: {_copies(raw, base[name])}"


@pytest.mark.parametrize("n_critic", [1, 3])
@pytest.mark.parametrize("data", ["mnist", "mnist_semi", "labels2fashion"])
def test_batches_per_step_comes_from_model_n_critic(n_critic, data, tmp_path):
    cfg = compose_config("train", [f"data={data}", f"model.n_critic={n_critic}"], tmp_path)
    assert cfg.data.batches_per_step == n_critic


@pytest.mark.parametrize("config,overrides", [("train", ["experiment=supervised_mnist_100"]),
                                              ("train_classifier", ["data=mnist"]),
                                              ("train_scorer", [])])
def test_batches_per_step_is_one_without_n_critic(config, overrides, tmp_path):
    cfg = compose_config(config, overrides, tmp_path)
    assert "n_critic" not in cfg.get("model", {}) and cfg.data.batches_per_step == 1


@pytest.mark.parametrize("model", sorted(GROUPS["model"]))
@pytest.mark.parametrize("data", sorted(GROUPS["data"]))
def test_model_builds_for_every_dataset(model, data, tmp_path):
    cfg = compose_config("train", [f"model={model}", f"data={data}"], tmp_path)
    module = build_model(cfg)
    images = module.generate(2)
    assert images.shape == (2, cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
    assert module.discriminator(images).shape == (2,)


@pytest.mark.parametrize("loss", sorted(GROUPS["loss"]))
def test_loss_instantiates(loss, tmp_path):
    cfg = compose_config("train", [f"loss={loss}"], tmp_path)
    assert instantiate(cfg.loss).name == loss


@pytest.mark.parametrize("trainer", ["default", "cpu", "debug"])
def test_trainer_instantiates(trainer, tmp_path):
    cfg = compose_config("train", [f"trainer={trainer}"], tmp_path)
    assert isinstance(instantiate(cfg.trainer, logger=False), pl.Trainer)


def test_gpu_trainer_composes(tmp_path):
    cfg = compose_config("train", ["trainer=gpu"], tmp_path)
    assert cfg.trainer.accelerator == "gpu"


@pytest.mark.parametrize("logger", sorted(GROUPS["logger"]))
def test_logger_instantiates_offline(logger, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    cfg = compose_config("train", [f"logger={logger}"], tmp_path)
    loggers = instantiate_group(cfg.get("logger"))
    assert len(loggers) == (0 if logger == "none" else 1)


def test_wandb_logger_imports():
    # Lightning's WandbLogger imports wandb internals; the pinned wandb range must satisfy them.
    import wandb
    from pytorch_lightning.loggers import WandbLogger

    assert WandbLogger is not None and wandb.__version__


LINEAR_DECAY = "gan_lightning.utils.schedules.linear_decay"


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")))
def test_linear_decay_ends_with_the_run(experiment, tmp_path):
    """An epoch-wise linear decay reaches lr 0 exactly at trainer.max_epochs: a shorter run would stop before the
    decay ends, a longer one would train epochs at lr 0."""
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
    schedule = cfg.model.get("scheduler_g")
    if schedule is None or schedule.get("_target_") != LINEAR_DECAY:
        return
    assert cfg.model.scheduler_interval == "epoch", experiment
    assert cfg.trainer.max_epochs == schedule.n_epochs + schedule.n_epochs_decay, experiment
    assert cfg.model.scheduler_d == schedule, experiment


def test_catgan_mnist_100_decays_both_learning_rates_to_zero(tmp_path):
    cfg = compose_config("train", ["experiment=catgan_mnist_100"], tmp_path)
    for key in ("scheduler_g", "scheduler_d"):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = instantiate(cfg.model[key])(opt)
        lrs = []
        for _ in range(cfg.trainer.max_epochs):
            lrs.append(opt.param_groups[0]["lr"])
            sched.step()
        assert lrs[:50] == [1.0] * 50 and 0 < lrs[-1] < 0.05 and lrs == sorted(lrs, reverse=True), key
        assert opt.param_groups[0]["lr"] == 0.0, key
