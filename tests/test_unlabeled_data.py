"""A user's own images (data=image_folder, no class labels): generative metrics without a domain classifier, and the
start-up errors for what cannot work on them (a folder smaller than one batch, a model that needs labels)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from hydra.utils import instantiate
from PIL import Image

from gan_lightning import PROJECT_ROOT
from gan_lightning.data.image_folder import ImageFolderDataModule
from gan_lightning.metrics.generative import INCEPTION_WEIGHTS, InceptionWeightsError
from gan_lightning.models import build_model
from gan_lightning.train import metrics_for_unlabeled_data
from tests.hydra_utils import compose_config


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    root = tmp_path_factory.mktemp("own") / "pngs"
    root.mkdir()
    for i in range(5):
        Image.new("RGB", (40, 30), (40 * i, 90, 160)).save(root / f"{i}.png")
    return root


def folder_config(pngs, tmp_path, monkeypatch, *overrides: str):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GAN_INCEPTION_WEIGHTS", raising=False)
    return compose_config("train", ["data=image_folder", f"data.data_dir={pngs}", *overrides], tmp_path / "run")


def test_datamodules_say_whether_they_are_labeled(pngs, tmp_path, monkeypatch):
    labeled = {d: instantiate(compose_config("train", [f"data={d}"], tmp_path).data).labeled
               for d in ("mnist", "mnist_semi", "cifar10", "image_folder", "aligned", "unaligned")}
    assert labeled == {"mnist": True, "mnist_semi": True, "cifar10": True, "image_folder": False, "aligned": False,
                       "unaligned": False}


def test_cli_on_an_unlabeled_folder_without_inception_weights_is_one_error_line(pngs, tmp_path):
    """The issue's command: today it crashed training a domain classifier on labels that do not exist."""
    env = {**os.environ, "GAN_CACHE_DIR": str(tmp_path / "cache"), "GAN_CLASSIFIER_DIR": str(tmp_path / "classifiers")}
    env.pop("GAN_INCEPTION_WEIGHTS", None)
    result = subprocess.run([sys.executable, "-m", "gan_lightning.train", "data=image_folder", f"data.data_dir={pngs}",
                             "logger=none", f"hydra.run.dir={tmp_path / 'run'}"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    line = errors[0]
    assert "metrics.feature_extractor=inception" in line and "metrics=none" in line and "no class labels" in line
    assert str(tmp_path / "cache" / INCEPTION_WEIGHTS) in line  # where the weights go
    assert not (tmp_path / "classifiers").exists() and not (tmp_path / "run" / "checkpoints").exists()


def test_unlabeled_folder_switches_to_inception_when_its_weights_are_there(pngs, tmp_path, monkeypatch, caplog):
    cfg = folder_config(pngs, tmp_path, monkeypatch)
    weights = tmp_path / "cache" / INCEPTION_WEIGHTS
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in")  # existence decides; the hash is checked by verify_inception_weights later
    with caplog.at_level(logging.WARNING, logger="gan_lightning.train"):
        metrics_for_unlabeled_data(cfg, instantiate(cfg.data))
    assert cfg.metrics.feature_extractor == "inception"
    assert [r for r in caplog.records if "Inception" in r.getMessage()]


def test_labeled_data_and_other_choices_are_left_alone(pngs, tmp_path, monkeypatch):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / INCEPTION_WEIGHTS).write_bytes(b"stand-in")
    cfg = folder_config(pngs, tmp_path, monkeypatch)
    metrics_for_unlabeled_data(cfg, instantiate(compose_config("train", ["data=mnist"], tmp_path).data))
    assert cfg.metrics.feature_extractor == "domain"  # labeled data (MNIST): its domain classifier stays
    for overrides in (["metrics=none"], ["metrics.generative=null"]):
        cfg = folder_config(pngs, tmp_path, monkeypatch, *overrides)
        (tmp_path / "cache" / INCEPTION_WEIGHTS).unlink(missing_ok=True)
        metrics_for_unlabeled_data(cfg, instantiate(cfg.data))  # nothing to score: no error


def test_generative_metrics_for_a_translation_model_name_metrics_translation(tmp_path, monkeypatch):
    """Pix2Pix on its own aligned folder with the default metrics: once a crash training a domain classifier."""
    from gan_lightning.train import train

    root = tmp_path / "pairs"
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (64, 32), (60 * i, 80, 120)).save(root / split / f"{i}.png")
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = compose_config("train", ["model=pix2pix", "data=aligned", f"data.data_dir={root}", "data.image_size=32",
                                   "data.num_workers=0"], tmp_path / "run")
    with pytest.raises(ValueError, match=r"^metrics\.generative scores samples drawn from z, which Pix2Pix does not "
                                         r"take .*: use metrics=translation"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unlabeled_folder_with_explicit_inception_and_no_weights_points_to_metrics_none(pngs, tmp_path, monkeypatch):
    from gan_lightning.train import train

    cfg = folder_config(pngs, tmp_path, monkeypatch, "metrics.feature_extractor=inception", "data.batch_size=4")
    with pytest.raises(InceptionWeightsError, match="metrics.inception_weights") as err:
        train(cfg)
    assert "no domain classifier; use metrics=none" in str(err.value)


@pytest.mark.parametrize("experiment,needs_labels", [("cgan_mnist", True), ("sgan_conv_mnist_100", True),
                                                     ("catgan_mnist_100", True), ("catgan_mnist_unsup", False),
                                                     ("dcgan_mnist", False)])
def test_models_that_need_labels_refuse_an_unlabeled_folder(experiment, needs_labels, pngs, tmp_path):
    model = build_model(compose_config("train", [f"experiment={experiment}"], tmp_path))
    folder = ImageFolderDataModule(data_dir=str(pngs), image_size=28, channels=1)
    labeled = instantiate(compose_config("train", [f"experiment={experiment}"], tmp_path).data)
    model.check_data(labeled)  # its own data is fine
    if needs_labels:
        unlabeled = rf"^{type(model).__name__} .* but data image_folder_pngs has no class labels"
        with pytest.raises(ValueError, match=unlabeled):
            model.check_data(folder)
    else:
        model.check_data(folder)


def test_folder_smaller_than_one_batch_names_the_fix(pngs):
    dm = ImageFolderDataModule(data_dir=str(pngs), image_size=16, batch_size=2, batches_per_step=3)
    with pytest.raises(ValueError, match=r"^data\.batch_size=2 x data\.batches_per_step=3 = 6 images a batch is "
                                         r"more than the 5 training images of image_folder_pngs .* "
                                         r"set data\.batch_size=1 or less"):
        dm.train_dataloader()
    assert len(ImageFolderDataModule(data_dir=str(pngs), image_size=16, batch_size=5).train_dataloader()) == 1
    kept = ImageFolderDataModule(data_dir=str(pngs), image_size=16, batch_size=8, drop_last=False)
    assert len(kept.train_dataloader()) == 1  # without drop_last the short batch is trained on
