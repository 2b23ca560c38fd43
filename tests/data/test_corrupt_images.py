"""Unreadable images in an image folder or an aligned / unaligned dataset are reported by path: the run stops
(data.on_corrupt=error) or leaves them out with a warning (skip); nothing fails silently."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gan_lightning.data.image_folder import CorruptImageError, ImageFolderDataModule
from gan_lightning.data.translation import AlignedDataModule, UnalignedDataModule


def good(path, width=16, height=16):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def broken(folder):
    """A truncated PNG and a text file named like an image."""
    folder.mkdir(parents=True, exist_ok=True)
    good(folder / "zz_truncated.png")
    data = (folder / "zz_truncated.png").read_bytes()
    (folder / "zz_truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "zz_notes.jpg").write_text("not an image")
    return [folder / "zz_notes.jpg", folder / "zz_truncated.png"]


def setup(dm):
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_image_folder_stops_on_a_broken_file_naming_it(tmp_path):
    for i in range(3):
        good(tmp_path / "imgs" / f"{i}.png")
    bad = broken(tmp_path / "imgs")
    dm = setup(ImageFolderDataModule(data_dir=str(tmp_path / "imgs"), image_size=8, batch_size=2))
    assert len(dm.train_set) == 5
    with pytest.raises(CorruptImageError, match="zz_notes.jpg.*data.on_corrupt=skip"):
        [dm.train_set[i] for i in range(len(dm.train_set))]
    with pytest.warns(UserWarning, match="Skipping 2 unreadable") as record:
        dm = setup(ImageFolderDataModule(data_dir=str(tmp_path / "imgs"), image_size=8, batch_size=2, on_corrupt="skip"))
    assert all(str(b) in str(record[0].message) for b in bad)
    assert len(dm.train_set) == 3 and dm.train_set[2][0].shape == (3, 8, 8)
    with pytest.raises(ValueError, match="data.on_corrupt='ignore'"):
        ImageFolderDataModule(data_dir=str(tmp_path / "imgs"), image_size=8, on_corrupt="ignore")


def test_aligned_and_unaligned_report_broken_files(tmp_path):
    aligned = tmp_path / "facades"
    for split in ("train", "test"):
        for i in range(3):
            good(aligned / split / f"{i}.png", width=32)
    broken(aligned / "train")
    dm = setup(AlignedDataModule(data_dir=str(aligned), image_size=16, batch_size=1))
    with pytest.raises(CorruptImageError, match="zz_notes.jpg"):
        [dm.train_set[i] for i in range(len(dm.train_set))]
    with pytest.warns(UserWarning, match="zz_truncated.png"):
        dm = setup(AlignedDataModule(data_dir=str(aligned), image_size=16, batch_size=1, on_corrupt="skip"))
    assert len(dm.train_set) == 3

    unaligned = tmp_path / "horse2zebra"
    for name in ("trainA", "trainB", "testA", "testB"):
        for i in range(2):
            good(unaligned / name / f"{i}.png")
    broken(unaligned / "testB")
    with pytest.warns(UserWarning, match="testB"):
        dm = setup(UnalignedDataModule(data_dir=str(unaligned), image_size=16, batch_size=1, on_corrupt="skip"))
    assert len(dm.test_set) == 2 and dm.test_set[1]["B"].shape == (3, 16, 16)
