"""data.on_device: the train split kept as uint8 and batched by index gives the worker DataLoader's batches, bit for
bit, in the same resumable order (real MNIST, an image folder that is resized, the semi-supervised streams)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.data import CIFAR10DataModule, ImageFolderDataModule, MNISTDataModule, ResumableRandomSampler
from gan_lightning.data.on_device import DeviceBatches, from_uint8, to_uint8
from gan_lightning.data.semi_supervised import SemiSupervisedMNISTDataModule
from gan_lightning.data.translation import AlignedDataModule
from gan_lightning.data.vision import resize_uint8


def _take(loader, n):
    it = iter(loader)
    return [next(it) for _ in range(n)]


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a.dtype == b.dtype and torch.equal(a, b)


def _pair(cls, **kw):
    """The same datamodule twice: through the DataLoader (1 worker) and on the device (the CPU here)."""
    out = []
    for on_device in (False, True):
        dm = cls(**kw, num_workers=0 if on_device else 1, on_device=on_device)
        dm.prepare_data()
        dm.setup("fit")
        out.append(dm)
    return out


def test_uint8_round_trip_is_exact_and_refuses_other_values():
    u8 = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    x = from_uint8(u8)
    assert x.min() == -1 and x.max() == 1 and x.dtype == torch.float32
    assert torch.equal(to_uint8(x), u8)
    with pytest.raises(ValueError, match=r"train item 3 .*data\.on_device=false"):
        to_uint8(x + 1e-3, what="train item 3")


@pytest.mark.parametrize("image_size", [28, 32, 20])  # native; enlarged; shrunk (where PIL's values differ)
def test_mnist_batches_equal_the_loaders_and_resume_mid_epoch(data_dir, tmp_path, image_size):
    loader_dm, device_dm = _pair(MNISTDataModule, data_dir=str(data_dir), cache_dir=str(tmp_path),
                                 image_size=image_size, batch_size=16, batches_per_step=2, seed=3)
    images, labels = device_dm.train_tensors()
    assert images.dtype == torch.uint8 and labels.shape == (60000,)
    assert images.shape == (60000, 1, image_size, image_size)
    loader, batches = loader_dm.train_dataloader(), device_dm.train_dataloader()
    assert isinstance(batches, DeviceBatches) and len(batches) == len(loader) == 60000 // 32
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)  # what Lightning does at every epoch start
        batches.sampler.set_epoch(epoch)
        for a, b in zip(_take(loader, 3), _take(batches, 3)):
            _assert_same(a, b)
    straight = _take(batches, 5)
    device_dm.load_state_dict({"epoch": 1, "samples_done": 3 * device_dm.loader_batch_size})
    resumed = device_dm.train_dataloader()
    assert resumed.sampler.epoch == 1
    _assert_same(_take(resumed, 2), straight[3:])


def test_resized_image_folder_equals_the_loader(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(7):
        pixels = torch.randint(0, 256, (20 + i, 24, 3), dtype=torch.uint8, generator=g)
        Image.fromarray(pixels.numpy()).save(root / f"{i}.png")
    loader_dm, device_dm = _pair(ImageFolderDataModule, data_dir=str(root), image_size=16, batch_size=3, seed=1)
    _assert_same(list(loader_dm.train_dataloader()), list(device_dm.train_dataloader()))


def test_ddp_shards_and_partial_last_batch():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    labels = torch.arange(10)
    shards = []
    for rank in (0, 1):
        sampler = ResumableRandomSampler(10, seed=4, num_replicas=2, rank=rank)
        sampler.set_epoch(2)
        batches = DeviceBatches(images, labels, sampler, batch_size=2, drop_last=False)
        assert len(batches) == 3  # 5 indices per rank: 2 + 2 + 1
        shards.append(torch.cat([y for _, y in batches]))
    full = ResumableRandomSampler(10, seed=4).order(2)
    assert torch.equal(shards[0], full[0::2]) and torch.equal(shards[1], full[1::2])
    dropped = DeviceBatches(images, labels, ResumableRandomSampler(10, seed=4, num_replicas=2, rank=0), 2)
    assert len(dropped) == len(list(dropped)) == 2


def test_semi_supervised_streams_equal_the_loaders(data_dir, tmp_path):
    loader_dm, device_dm = _pair(SemiSupervisedMNISTDataModule, data_dir=str(data_dir), cache_dir=str(tmp_path),
                                 image_size=28, batch_size=16, num_labeled=100, labeled_seed=0, seed=1,
                                 generator_stream=True)
    images, labels = device_dm.train_tensors()
    assert labels is None and images.shape == (60000 - 100, 1, 28, 28)  # the labeled 100 are left out
    _assert_same(_take(loader_dm.train_dataloader(), 3), _take(device_dm.train_dataloader(), 3))
    device_dm.load_state_dict({"epoch": 0, "samples_done": 2 * device_dm.loader_batch_size})
    _assert_same(_take(loader_dm.train_dataloader(), 3)[2], _take(device_dm.train_dataloader(), 1)[0])


def test_translation_data_refuses_on_device(tmp_path):
    with pytest.raises(ValueError, match=r"data\.on_device=True is invalid.*random augmentation.*data\.on_device=false"):
        AlignedDataModule(data_dir=str(tmp_path), image_size=16, on_device=True)


def test_auto_keeps_the_small_torchvision_splits_on_the_device(tmp_path):
    assert MNISTDataModule(data_dir=str(tmp_path), image_size=28).on_device  # "auto", the default
    assert SemiSupervisedMNISTDataModule(data_dir=str(tmp_path), image_size=28).on_device
    assert not MNISTDataModule(data_dir=str(tmp_path), image_size=28, on_device=False).on_device
    assert MNISTDataModule(data_dir=str(tmp_path), image_size=128).on_device  # 0.98 GB as uint8: resized once
    assert not MNISTDataModule(data_dir=str(tmp_path), image_size=256).on_device  # 3.9 GB: the loader
    assert CIFAR10DataModule(data_dir=str(tmp_path), image_size=64).on_device
    assert not CIFAR10DataModule(data_dir=str(tmp_path), image_size=128).on_device
    assert not ImageFolderDataModule(data_dir=str(tmp_path), image_size=16).on_device  # size unknown: loader
    assert not AlignedDataModule(data_dir=str(tmp_path), image_size=16, on_device="auto").on_device
    with pytest.raises(ValueError, match=r"data\.on_device='yes' is invalid: use true, false or auto"):
        MNISTDataModule(data_dir=str(tmp_path), image_size=28, on_device="yes")


def test_resize_uint8_gives_a_stack_what_it_gives_each_image_and_enlarges_as_pil():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 3, 28, 28), dtype=torch.uint8, generator=g)
    stacked = resize_uint8(images, 32)
    assert stacked.dtype == torch.uint8 and stacked.shape == (5, 3, 32, 32)
    assert torch.equal(stacked, torch.stack([resize_uint8(x, 32) for x in images]))
    pil = [np.asarray(Image.fromarray(x.permute(1, 2, 0).numpy()).resize((32, 32), Image.BILINEAR)) for x in images]
    pil = torch.from_numpy(np.stack(pil)).permute(0, 3, 1, 2)
    assert torch.equal(stacked, pil)
