"""ImageFolderDataModule on a few PNGs written into tmp_path."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from gan_lightning.data import DataNotFoundError, ImageFolderDataModule


@pytest.fixture
def image_dir(tmp_path):
    root = tmp_path / "images"
    for i, rel in enumerate(["a.png", "b.PNG", "sub/c.png", "sub/deeper/d.jpg", "e.bmp", "f.webp"]):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = torch.zeros(20 + i, 30, 3, dtype=torch.uint8)
        pixels[(20 + i) // 2 :] = 255  # black top, white bottom: both extremes survive resize + crop
        Image.fromarray(pixels.numpy()).save(path)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("channels", [3, 1])
def test_batches(image_dir, channels):
    dm = ImageFolderDataModule(data_dir=str(image_dir), image_size=16, channels=channels, batch_size=3)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_set) == 6 and dm.test_set is dm.train_set and dm.num_classes is None
    assert dm.channels == channels and dm.name == "image_folder_images"
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (3, channels, 16, 16) and x.dtype == torch.float32
    assert -1 <= x.min() < -0.9 and 0.9 < x.max() <= 1
    assert y.dtype == torch.int64 and y.tolist() == [0, 0, 0]


def test_no_center_crop_and_deterministic_split(image_dir):
    kw = dict(data_dir=str(image_dir), image_size=8, test_fraction=0.5, center_crop=False, seed=1)
    a, b = ImageFolderDataModule(**kw), ImageFolderDataModule(**kw)
    a.setup(), b.setup()
    assert len(a.train_set) == 3 and len(a.test_set) == 3
    assert a.train_set.indices == b.train_set.indices
    assert set(a.train_set.indices).isdisjoint(a.test_set.indices)
    x, _ = next(iter(a.test_dataloader()))
    assert x.shape == (3, 3, 8, 8)


@pytest.mark.parametrize("sub", ["missing", "empty"])
def test_missing_or_empty_dir(tmp_path, sub):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    dm = ImageFolderDataModule(data_dir=str(tmp_path / sub), image_size=8)
    with pytest.raises(DataNotFoundError) as err:
        dm.prepare_data()
    assert str(tmp_path / sub) in str(err.value) and ".png" in str(err.value) and ".webp" in str(err.value)


@pytest.mark.parametrize(
    "key, value",
    [("image_size", -4), ("batch_size", 0), ("batches_per_step", 0), ("channels", 2), ("test_fraction", 1.0)],
)
def test_invalid_values_name_the_key(tmp_path, key, value):
    with pytest.raises(ValueError, match=rf"{key}={value}"):
        ImageFolderDataModule(**(dict(data_dir=str(tmp_path), image_size=8) | {key: value}))
