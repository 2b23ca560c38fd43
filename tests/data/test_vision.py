"""torchvision datamodules on the real MNIST / Fashion-MNIST files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch
from torchvision import datasets

from gan_lightning.data import (
    CIFAR10DataModule,
    DataNotFoundError,
    FashionMNISTDataModule,
    MNISTDataModule,
)


def _first_batch(dm):
    dm.prepare_data()
    dm.setup("fit")
    return next(iter(dm.train_dataloader()))


@pytest.mark.parametrize("image_size", [28, 32])
def test_mnist_batches(data_dir, image_size):
    dm = MNISTDataModule(data_dir=str(data_dir), image_size=image_size, batch_size=16, batches_per_step=3)
    x, y = _first_batch(dm)
    assert (dm.name, dm.channels, dm.num_classes) == ("mnist", 1, 10)
    assert len(dm.train_set) == 60000 and len(dm.test_set) == 10000
    assert dm.train_dataloader().batch_size == 48
    assert x.shape == (48, 1, image_size, image_size) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert x.min() < -0.99 and x.max() > 0.99
    assert y.dtype == torch.int64 and y.shape == (48,) and 0 <= y.min() and y.max() <= 9
    xt, yt = next(iter(dm.test_dataloader()))  # unshuffled: the first test labels of MNIST
    assert xt.shape == (16, 1, image_size, image_size) and yt[:4].tolist() == [7, 2, 1, 0]


def test_fashion_mnist_batches(data_dir):
    dm = FashionMNISTDataModule(data_dir=str(data_dir), image_size=28, batch_size=8)
    x, y = _first_batch(dm)
    assert dm.name == "fashion_mnist" and x.shape == (8, 1, 28, 28) and y.dtype == torch.int64
    assert -1 <= x.min() < -0.99 and 0.99 < x.max() <= 1


def _listing(root: Path) -> list[tuple]:
    return sorted((p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in map(str, root.rglob("*"))) + [
        (str(root), 0, root.stat().st_mtime_ns)
    ]


def test_read_only_data_dir_is_copied_to_cache(shared_data_dir, tmp_path, caplog):
    before = _listing(shared_data_dir)
    dm = MNISTDataModule(data_dir=str(shared_data_dir), cache_dir=str(tmp_path), image_size=28, batch_size=4)
    with caplog.at_level(logging.INFO, logger="gan_lightning.data.vision"):
        x, _ = _first_batch(dm)
    assert x.shape == (4, 1, 28, 28)
    assert (tmp_path / "data" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert any(str(tmp_path / "data") in r.getMessage() for r in caplog.records)
    assert _listing(shared_data_dir) == before  # nothing written under the shared folder


def test_read_only_data_dir_without_cache_dir(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(DataNotFoundError, match="paths.cache_dir") as err:
            MNISTDataModule(data_dir=str(ro), image_size=28).prepare_data()
        assert str(ro) in str(err.value) and "train-images-idx3-ubyte.gz" in str(err.value)
    finally:
        ro.chmod(0o755)
    assert list(ro.iterdir()) == []


def _offline(self):
    raise RuntimeError("offline")


@pytest.mark.parametrize(
    "cls, tv_cls, expected",
    [(MNISTDataModule, datasets.MNIST, "MNIST/raw/train-images-idx3-ubyte.gz"),
     (FashionMNISTDataModule, datasets.FashionMNIST, "FashionMNIST/raw/t10k-labels-idx1-ubyte.gz"),
     (CIFAR10DataModule, datasets.CIFAR10, "cifar-10-python.tar.gz")],
)
def test_missing_data_raises_data_not_found(tmp_path, monkeypatch, cls, tv_cls, expected):
    monkeypatch.setattr(tv_cls, "download", _offline)  # independent of the network
    dm = cls(data_dir=str(tmp_path), image_size=32)
    with pytest.raises(DataNotFoundError) as err:
        dm.prepare_data()
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert str(tmp_path.resolve()) in msg and expected in msg
    assert "paths.data_dir" in msg and "GAN_DATA_DIR" in msg
    assert isinstance(err.value.__cause__, RuntimeError)


@pytest.mark.parametrize(
    "key, value", [("image_size", 0), ("batch_size", 0), ("batches_per_step", 0), ("num_workers", -1), ("channels", 3)]
)
def test_invalid_values_name_the_key(key, value):
    kw = dict(data_dir="unused", image_size=28) | {key: value}
    with pytest.raises(ValueError, match=rf"{key}={value}"):
        MNISTDataModule(**kw)
