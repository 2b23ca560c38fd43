"""End to end through `gan_lightning.train`: experiments, resume, errors, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gan_lightning import CONFIG_DIR, PROJECT_ROOT
from gan_lightning.train import train
from tests.hydra_utils import compose_config
from tests.test_dataset_experiments import DATASET_EXPERIMENTS

# The standard-dataset experiments (CelebA, CIFAR-10, facades, horse2zebra) train on tiny copies of their own layouts in
# tests/test_dataset_experiments.py; here the data is MNIST / Fashion-MNIST only.
EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml") if p.stem not in DATASET_EXPERIMENTS)
# Small nets and batches: these tests check mechanics, not quality.
TINY = [
    "data.num_workers=0", "data.batch_size=8", "logger=none",
    "~callbacks.progress_bar",
]


TINY_DCGAN = [*TINY, "model.generator.base_width=8", "model.discriminator.base_width=8"]


def test_experiments_found():
    assert {"gan_mnist", "dcgan_mnist", "dcgan_fashion_mnist"} <= set(EXPERIMENTS)


# Experiments whose data is not on a fresh machine with MNIST / Fashion-MNIST (CelebA, CIFAR-10, facades,
# horse2zebra downloads): their runs are tested on generated folders of the same layout (the datasets' own tests).
# Every other experiment must run from an empty cache below.
EXTERNAL_DATA_EXPERIMENTS = {"dcgan_celeba", "dcgan_cifar10", "pix2pix_facades", "cyclegan_horse2zebra"}
EXTERNAL_DATAMODULES = {"CIFAR10DataModule", "ImageFolderDataModule", "AlignedDataModule", "UnalignedDataModule"}
# What the runs below train on first use, shortened (the code path is the same; only the lengths differ).
SHORT_METRIC_NETS = {"classifier": {"max_steps": 20},
                     "scorer": {"max_steps": 5, "data": {"max_train": 64, "max_test": 32}}}


@pytest.fixture(scope="session")
def fresh_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty cache (paths.cache_dir, with classifier_dir and scorer_dir inside) for the session, as on a new
    machine: the first experiment of each dataset trains its metric nets, the later ones reuse them."""
    return tmp_path_factory.mktemp("fresh_cache")


def test_excluded_experiments_need_external_data(tmp_path):
    for experiment in sorted(EXTERNAL_DATA_EXPERIMENTS & set(EXPERIMENTS)):
        cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
        assert cfg.data._target_.rsplit(".", 1)[-1] in EXTERNAL_DATAMODULES, experiment


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e not in EXTERNAL_DATA_EXPERIMENTS])
def test_experiment_runs_from_an_empty_cache(experiment, data_dir, fresh_cache, tmp_path, monkeypatch):
    """Each README experiment, one generator step with its metrics (evaluated before the first step and at the
    end), on a machine whose cache starts empty: what the evaluators read is trained on first use."""
    from gan_lightning.metric_nets import evaluator_arguments, required_metric_nets

    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(fresh_cache))
    monkeypatch.delenv("GAN_CLASSIFIER_DIR", raising=False)
    monkeypatch.delenv("GAN_SCORER_DIR", raising=False)
    cfg = compose_config("train", [f"experiment={experiment}", "max_g_steps=1", "trainer.log_every_n_steps=1", *TINY],
                         tmp_path)
    cfg.train_missing_overrides = SHORT_METRIC_NETS
    if cfg.get("metrics") and cfg.metrics.get("generative"):
        cfg.metrics.generative.num_fake = cfg.metrics.generative.num_real = 32
        cfg.metrics.generative.batch_size = 16
    for entry in (cfg.metrics.get("evaluators") or {}).values() if cfg.get("metrics") else ():
        if entry is not None and "max_samples" in entry:
            entry.max_samples = 64
        if entry is not None and "num_per_class" in entry:
            entry.num_per_class = 4
    if "max_train" in cfg.data:  # the Fashion-MNIST translation tasks: build a small one
        cfg.data.max_train, cfg.data.max_test = 64, 16
    nets = required_metric_nets(cfg)
    assert all(str(net.path).startswith(str(fresh_cache)) for net in nets)

    metrics = train(cfg)
    assert metrics["trainer/g_step"] == 1
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert all(net.path.is_file() for net in nets)  # trained on first use (or by an earlier experiment)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert last.is_file()
    if evaluator_arguments(cfg.metrics):
        assert len([k for k in metrics if k.startswith("metrics/")]) >= len(evaluator_arguments(cfg.metrics))
        state = torch.load(last, map_location="cpu", weights_only=False)["callbacks"]
        history = next(v["history"] for k, v in state.items() if k.startswith("EvaluationCallback"))
        assert history[0]["g_step"] == 0 and set(history[0]) - {"g_step", "epoch"}  # evaluated before the first step
    if "sample_grid" in cfg.callbacks:  # adversarial models
        assert {"loss/d", "loss/g"} <= set(metrics)
        assert list((tmp_path / "samples").glob("g_step=*.png"))


@pytest.mark.parametrize("loss", ["minimax", "non_saturating", "lsgan", "hinge", "wgan_gp"])
def test_every_loss_trains(loss, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config(
        "train", [f"loss={loss}", "max_g_steps=2", "trainer.log_every_n_steps=1", "metrics.generative=null", *TINY_DCGAN], tmp_path
    )
    metrics = train(cfg)
    assert metrics["trainer/g_step"] == 2
    if loss == "wgan_gp":
        assert cfg.model.n_critic == 5 and "loss/gp" in metrics


def run_to(tmp_path: Path, name: str, g_steps: int, extra: list[str] = (), ckpt_every: int = 3) -> Path:
    out = tmp_path / name
    cfg = compose_config(
        "train",
        [
            "experiment=dcgan_mnist", f"max_g_steps={g_steps}", "trainer.deterministic=true",
            "trainer.accelerator=cpu", "+trainer.limit_train_batches=4",  # epochs of 4 batches: resume crosses one
            f"callbacks.model_checkpoint.every_n_g_steps={ckpt_every}", "callbacks.sample_grid.every_n_g_steps=2",
            "metrics.generative=null", "model.ema_decay=0.9", "model.n_critic=2", "seed=7",
            *TINY_DCGAN, *extra,
        ],
        out,
    )
    train(cfg)
    return out / "checkpoints" / "last.ckpt"


# 3: last.ckpt written in on_train_batch_end at step 3; 100: only at train end, after Lightning has counted the
# interrupted epoch as completed.
@pytest.mark.parametrize("ckpt_every", [3, 100])
def test_resume_is_bit_exact(data_dir, tmp_path, monkeypatch, ckpt_every):
    """N + M steps straight through == N steps, resume from last.ckpt, M more (CPU, deterministic)."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    straight = torch.load(run_to(tmp_path, "straight", 7), weights_only=True)
    first = run_to(tmp_path, "first", 3, ckpt_every=ckpt_every)
    assert torch.load(first, weights_only=True)["gan_lightning"]["g_step"] == 3
    resumed = torch.load(run_to(tmp_path, "resumed", 7, [f"ckpt_path={first}"]), weights_only=True)

    assert straight["gan_lightning"]["g_step"] == resumed["gan_lightning"]["g_step"] == 7
    assert straight["state_dict"].keys() == resumed["state_dict"].keys()
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    # Adam moments too: both optimizers were restored, not re-created.
    for opt_a, opt_b in zip(straight["optimizer_states"], resumed["optimizer_states"]):
        for state_a, state_b in zip(opt_a["state"].values(), opt_b["state"].values()):
            assert torch.equal(state_a["exp_avg"], state_b["exp_avg"])


def test_on_device_data_trains_and_resumes_as_the_loader_does(data_dir, tmp_path, monkeypatch):
    """data.on_device=true: the same weights as the worker DataLoader after 7 steps, also when resumed at step 3
    (the epochs are 4 batches long, so the resume crosses an epoch)."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    loader = torch.load(run_to(tmp_path, "loader", 7, ["data.num_workers=1", "data.on_device=false"]),
                        weights_only=True)["state_dict"]
    first = run_to(tmp_path, "first", 3, ["data.on_device=true"])
    resumed = torch.load(run_to(tmp_path, "resumed", 7, ["data.on_device=true", f"ckpt_path={first}"]),
                         weights_only=True)["state_dict"]
    assert loader.keys() == resumed.keys()
    for key, value in loader.items():
        assert torch.equal(value, resumed[key]), key


def test_ema_generator_starts_from_the_data_dependent_init(data_dir, tmp_path, monkeypatch):
    """gan_mnist with G's output bias from the pixel marginals: the EMA copy starts from the initialized G, so its
    always-black corner pixel is near -1 from the first step (else the average would take ~1/(1 - decay) steps)."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    train(compose_config("train", ["experiment=gan_mnist", "max_g_steps=1", "metrics=none", *TINY,
                                   "model.generator.marginal_output_bias=true", "model.ema_decay=0.995"], tmp_path))
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    live, ema = state["generator.out.bias"], state["generator_ema.out.bias"]
    assert live[0] < -7 and ema[0] < -7  # logit(1e-7) / 2 = -8.06, moved by one step at most
    torch.testing.assert_close(ema, live, rtol=0, atol=0.05)


def test_resume_differs_without_restoring(data_dir, tmp_path, monkeypatch):
    """Guards the test above: a fresh 4-step run from another seed does not match."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    a = torch.load(run_to(tmp_path, "a", 4), weights_only=True)["state_dict"]
    b = torch.load(run_to(tmp_path, "b", 4, ["seed=8"]), weights_only=True)["state_dict"]
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def test_missing_ckpt_path_is_an_error(tmp_path):
    cfg = compose_config("train", [f"ckpt_path={tmp_path}/nope/last.ckpt"], tmp_path)
    with pytest.raises(FileNotFoundError, match="nope/last.ckpt"):
        train(cfg)


def test_missing_inception_weights_stop_the_run_before_training(tmp_path):
    from gan_lightning.metrics.generative import INCEPTION_WEIGHTS, InceptionWeightsError

    cfg = compose_config("train", ["metrics.feature_extractor=inception",
                                   f"metrics.inception_weights={tmp_path}/{INCEPTION_WEIGHTS}"], tmp_path / "run")
    with pytest.raises(InceptionWeightsError, match="metrics.inception_weights"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_missing_data_stops_before_training(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise RuntimeError("offline")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = compose_config("train", [f"paths.data_dir={empty}", "logger=none"], tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz") as info:
        train(cfg)
    assert str(empty) in str(info.value)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_cfg_job_prints_resolved_config():
    result = subprocess.run(
        [sys.executable, "-m", "gan_lightning.train", "--cfg", "job", "experiment=gan_mnist"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "gan_lightning.nets.mlp.MLPGenerator" in result.stdout
    assert "n_critic: 1" in result.stdout


@pytest.mark.parametrize("logger", ["tensorboard", "wandb"])
def test_logger_receives_scalars_and_sample_grids(logger, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    cfg = compose_config(
        "train",
        [f"logger={logger}", "max_g_steps=2", "trainer.log_every_n_steps=1", "callbacks.sample_grid.every_n_g_steps=1",
         "metrics.generative=null", *[o for o in TINY_DCGAN if o != "logger=none"]],
        tmp_path,
    )
    train(cfg)
    if logger == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
        assert "loss/d" in events.Tags()["scalars"] and "samples" in events.Tags()["images"]
    else:
        runs = list((tmp_path / "wandb").glob("offline-run-*"))
        assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
        media = list(runs[0].rglob("*.png"))
        assert media, "sample grids were not logged to W&B"
