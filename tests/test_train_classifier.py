"""`python -m gan_lightning.train_classifier`: config composition and a short real-MNIST run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from gan_lightning import CONFIG_DIR
from gan_lightning.metrics.domain import load_domain_classifier
from gan_lightning.train_classifier import train_classifier


def compose_cfg(config_name: str, overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # so ${hydra:runtime.choices.data} resolves
    return cfg


def test_output_path_matches_the_metrics_classifier_path(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CLASSIFIER_DIR", str(tmp_path))
    for data in ("mnist", "fashion_mnist"):
        cfg = compose_cfg("train_classifier", [f"data={data}"])
        assert cfg.output == str(tmp_path / f"{data}_28.pt") and cfg.dataset == data
        assert cfg.data.batches_per_step == 1
        train_cfg = compose_cfg("train", [f"data={data}"])
        assert train_cfg.metrics.classifier_path == cfg.output


def test_short_run_on_real_mnist(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "clf" / "mnist_28.pt"
    cfg = compose_cfg("train_classifier", ["data=mnist", "max_steps=150", "batch_size=64", "data.num_workers=0", f"output={out}"])
    with pytest.warns(UserWarning, match="< target 0.99"):  # 150 steps: below the full-run target, saved anyway
        result = train_classifier(cfg)
    assert result["steps"] == 150 and Path(result["path"]) == out
    assert result["test_accuracy"] > 0.9
    raw = torch.load(out, weights_only=True)
    assert raw["meta"] == {**raw["meta"], "dataset": "mnist", "image_size": 28, "test_accuracy": result["test_accuracy"], "seed": 0}
    model = load_domain_classifier(out)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("image_size", [28, 32])
def test_in_memory_batches_equal_the_per_item_loader_epoch_after_epoch(data_dir, image_size, monkeypatch):
    """The metric nets' loop reads MNIST from memory (data.on_device auto): each epoch's first batch is the one the
    per-item DataLoader gives, so the classifier file (and every domain FID / IS) stays the same."""
    from gan_lightning.utils.net_files import seeded_train_data

    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    base = ["data=mnist", f"data.image_size={image_size}", "data.num_workers=0", "seed=3"]
    _, memory = seeded_train_data(compose_cfg("train_classifier", base))
    _, per_item = seeded_train_data(compose_cfg("train_classifier", [*base, "data.on_device=false"]))
    assert len(memory) == len(per_item) == 60000 // 64
    assert type(memory.dataset).__name__ == "RowBatches" and type(per_item.dataset).__name__ != "RowBatches"
    firsts = []
    for _ in range(3):  # every new iterator draws from the shared generator: the order must follow it
        (x, y), (x_ref, y_ref) = next(iter(memory)), next(iter(per_item))
        assert x.shape == (64, 1, image_size, image_size) and x.dtype == torch.float32
        assert torch.equal(x, x_ref) and torch.equal(y, y_ref)
        firsts.append(y)
    assert not torch.equal(firsts[0], firsts[1])  # reshuffled each epoch


@pytest.mark.slow
def test_fashion_mnist_classifier_reaches_target(data_dir, tmp_path, monkeypatch):
    """The CLI defaults reach the issue's 90 % on Fashion-MNIST (MNIST's 99 %: tests/test_quality.py)."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = compose_cfg("train_classifier", ["data=fashion_mnist", "data.num_workers=0", f"output={tmp_path}/f.pt"])
    result = train_classifier(cfg)
    assert result["test_accuracy"] >= 0.90
