"""Aligned (pix2pix) and unaligned (CycleGAN) datamodules on tiny folders written into tmp_path."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_lightning.callbacks import ModelCheckpoint

from gan_lightning.data import DataNotFoundError
from gan_lightning.data.sampler import ResumableRandomSampler
from gan_lightning.data.translation import (
    AlignedDataModule,
    EpochKeyedSampler,
    UnalignedDataModule,
    default_load_size,
)
from tests.data.fakes import fake_trainer
from tests.data.test_sampler import BatchRecorder, fit_recording


def _noise(seed: int, size: int = 16, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, channels), dtype=np.uint8)


def _write_aligned(root, split: str, n: int, same: bool = False, size: int = 16):
    (root / split).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = _noise(i, size)
        b = a if same else _noise(1000 + i, size)
        Image.fromarray(np.concatenate([a, b], axis=1)).save(root / split / f"{i:03d}.png")


@pytest.fixture
def aligned_dir(tmp_path):
    root = tmp_path / "facades"
    _write_aligned(root, "train", 12)
    _write_aligned(root, "test", 5)
    return root


def _dm(cls=AlignedDataModule, **kw):
    dm = cls(**(dict(image_size=16, batch_size=2) | kw))
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_aligned_batches(aligned_dir):
    dm = _dm(data_dir=str(aligned_dir), batches_per_step=3, channels_b=1)
    assert (dm.channels_a, dm.channels_b, dm.num_classes, dm.name) == (3, 1, None, "aligned_facades")
    assert len(dm.train_set) == 12 and len(dm.test_set) == 5 and dm.test_split == "test"
    assert dm.load_size == default_load_size(16) == 18 and default_load_size(256) == 286 and default_load_size(32) == 36
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"A", "B"}
    assert batch["A"].shape == (6, 3, 16, 16) and batch["B"].shape == (6, 1, 16, 16)  # batch_size * batches_per_step
    for x in batch.values():
        assert x.dtype == torch.float32 and -1 <= x.min() < -0.5 and 0.5 < x.max() <= 1
    test = next(iter(dm.test_dataloader()))
    assert test["A"].shape == (2, 3, 16, 16) and test["B"].shape == (2, 1, 16, 16)
    # Test items are the stored halves untouched (same size: no resize, no jitter), A left.
    expected_a = torch.from_numpy(_noise(0)).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.equal(test["A"][0], expected_a)


def test_val_used_when_no_test_split(tmp_path):
    _write_aligned(tmp_path, "train", 3)
    _write_aligned(tmp_path, "val", 2)
    dm = _dm(data_dir=str(tmp_path))
    assert dm.test_split == "val" and len(dm.test_set) == 2


def test_direction_swaps_domains(aligned_dir):
    ab = _dm(data_dir=str(aligned_dir), channels_a=3, channels_b=1)
    ba = _dm(data_dir=str(aligned_dir), direction="BtoA", channels_a=1, channels_b=3)
    for i in (0, 4):
        assert torch.equal(ab.test_set[i]["A"], ba.test_set[i]["B"])
        assert torch.equal(ab.test_set[i]["B"], ba.test_set[i]["A"])
    # Train items too, with the pair's shared jitter.
    assert torch.equal(ab.train_set[(3, 7)]["A"], ba.train_set[(3, 7)]["B"])


def test_pair_shares_one_jitter_and_flip(tmp_path):
    _write_aligned(tmp_path, "train", 8, same=True)
    _write_aligned(tmp_path, "test", 8, same=True)
    dm = _dm(data_dir=str(tmp_path), load_size=22)
    changed = 0
    for epoch in range(3):
        for i in range(8):
            item = dm.train_set[(epoch, i)]
            assert torch.equal(item["A"], item["B"])
            changed += not torch.equal(item["A"], dm.test_set[i]["A"])
    assert changed >= 20  # the jitter / flip really moves the pixels (a zero crop without flip happens rarely)


def test_test_split_deterministic_and_train_depends_on_epoch_only_through_key(aligned_dir):
    dm = _dm(data_dir=str(aligned_dir))
    first = [dm.test_set[i] for i in range(5)]
    again = [dm.test_set[i] for i in range(5)]
    assert all(torch.equal(a["A"], b["A"]) and torch.equal(a["B"], b["B"]) for a, b in zip(first, again))
    assert torch.equal(dm.train_set[(2, 5)]["A"], dm.train_set[(2, 5)]["A"])
    assert torch.equal(dm.train_set[5]["A"], dm.train_set[(0, 5)]["A"])  # a plain index is epoch 0
    assert any(not torch.equal(dm.train_set[(0, i)]["A"], dm.train_set[(1, i)]["A"]) for i in range(12))


def test_no_jitter_no_flip_is_plain_resize(aligned_dir):
    dm = _dm(data_dir=str(aligned_dir), jitter=False, flip=False)
    for i in range(5):  # train file i and test file i hold the same pixels
        assert torch.equal(dm.train_set[(4, i)]["A"], dm.test_set[i]["A"])
        assert torch.equal(dm.train_set[(4, i)]["B"], dm.test_set[i]["B"])


def test_label_map_a_resized_with_nearest(tmp_path):
    colours = np.array([(0, 0, 0), (255, 0, 0), (0, 0, 255), (128, 128, 128)], np.uint8)
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 2)):
        for i in range(n):
            ids = np.kron(rng.integers(0, 4, (5, 5)), np.ones((4, 4), int))  # 20x20 blocks
            Image.fromarray(np.concatenate([colours[ids], colours[ids]], axis=1)).save(tmp_path / split / f"{i}.png")
    allowed = torch.from_numpy(colours).float() / 127.5 - 1

    def palette_only(x):  # (3, H, W): every pixel one of the colours
        return bool((x.permute(1, 2, 0)[..., None, :] == allowed).all(-1).any(-1).all())

    for direction in ("AtoB", "BtoA"):
        dm = _dm(data_dir=str(tmp_path), a_is_label_map=True, direction=direction, image_size=16)
        label_key, photo_key = ("A", "B") if direction == "AtoB" else ("B", "A")
        for key in [(e, i) for e in range(3) for i in range(4)]:
            item = dm.train_set[key]
            assert palette_only(item[label_key])
        assert palette_only(dm.test_set[0][label_key])  # 20 -> 16 resize
        assert not palette_only(dm.test_set[0][photo_key])  # the photo side is bicubic: mixed colours appear


@pytest.mark.parametrize("missing, text", [("root", "does not exist"), ("train", "train/"), ("test", "test/ nor a val/")])
def test_aligned_layout_errors(tmp_path, missing, text):
    root = tmp_path / "pairs"
    if missing != "root":
        _write_aligned(root, "test" if missing == "train" else "train", 2)
    dm = AlignedDataModule(data_dir=str(root), image_size=16)
    with pytest.raises(DataNotFoundError) as err:
        dm.prepare_data()
    msg = str(err.value)
    assert str(root) in msg and text in msg and "data.data_dir=" in msg and "A|B pair side by side" in msg


def test_aligned_wrong_aspect_ratio(tmp_path):
    _write_aligned(tmp_path, "train", 2)
    (tmp_path / "test").mkdir()
    Image.fromarray(_noise(0, 16)).save(tmp_path / "test" / "square.png")
    with pytest.raises(ValueError, match=r"square\.png is 16x16 .*width must be twice its height"):
        AlignedDataModule(data_dir=str(tmp_path), image_size=16).prepare_data()
    # A bad file past the first one fails when it is loaded, naming the file.
    (tmp_path / "test" / "square.png").unlink()
    _write_aligned(tmp_path, "test", 1)
    Image.fromarray(_noise(0, 16)).save(tmp_path / "test" / "zz.png")
    dm = _dm(data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"zz\.png is 16x16"):
        dm.test_set[1]


@pytest.mark.parametrize(
    "key, value",
    [("direction", "AtoC"), ("channels_a", 2), ("channels_b", 4), ("load_size", 8), ("batch_size", 0)],
)
def test_invalid_values_name_the_key(tmp_path, key, value):
    with pytest.raises(ValueError, match=rf"{key}={value!r}"):
        AlignedDataModule(**(dict(data_dir=str(tmp_path), image_size=16) | {key: value}))


# ---- unaligned ----

def _write_flat(folder, values, size=12):
    folder.mkdir(parents=True)
    for i, v in enumerate(values):
        Image.fromarray(np.full((size, size), v, np.uint8)).save(folder / f"{i:03d}.png")


@pytest.fixture
def unaligned_dir(tmp_path):
    root = tmp_path / "horse2zebra"
    # Flat images: the value identifies the file, and survives resize, crop and flip exactly.
    _write_flat(root / "trainA", [10 * i for i in range(5)])
    _write_flat(root / "trainB", [255 - 10 * i for i in range(9)])
    _write_flat(root / "testA", [1, 2, 3, 4])
    _write_flat(root / "testB", [201, 202])
    return root


def _value(x):
    return round((float(x.flatten()[0]) + 1) * 127.5)


def test_unaligned_items(unaligned_dir):
    dm = _dm(UnalignedDataModule, data_dir=str(unaligned_dir), channels_a=1, channels_b=3, image_size=8)
    assert dm.name == "unaligned_horse2zebra" and dm.num_classes is None
    assert len(dm.train_set) == 9 and len(dm.test_set) == 4  # max(len A, len B); len testA
    item = dm.test_set[3]
    assert item["A"].shape == (1, 8, 8) and item["B"].shape == (3, 8, 8)
    assert [(_value(dm.test_set[i]["A"]), _value(dm.test_set[i]["B"])) for i in range(4)] == [
        (1, 201), (2, 202), (3, 201), (4, 202)]  # A_i with B_(i mod len B)
    b_values = set()
    for epoch in range(4):
        for i in range(9):
            item = dm.train_set[(epoch, i)]
            assert item["A"].unique().numel() == 1 and _value(item["A"]) == 10 * (i % 5)
            b_values.add(_value(item["B"]))
            assert torch.equal(item["B"], dm.train_set[(epoch, i)]["B"])  # a function of the key
    assert b_values <= {255 - 10 * i for i in range(9)} and len(b_values) >= 7  # B drawn independently of A
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == (2, 1, 8, 8) and batch["B"].shape == (2, 3, 8, 8)


def test_unaligned_direction(unaligned_dir):
    dm = _dm(UnalignedDataModule, data_dir=str(unaligned_dir), direction="BtoA", image_size=8)
    assert len(dm.test_set) == 2
    assert [(_value(dm.test_set[i]["A"]), _value(dm.test_set[i]["B"])) for i in range(2)] == [(201, 1), (202, 2)]
    assert {_value(dm.train_set[(0, i)]["A"]) for i in range(9)} == {255 - 10 * i for i in range(9)}


def test_unaligned_missing_folders(unaligned_dir, tmp_path):
    for sub in ("trainB", "testA"):
        for f in (unaligned_dir / sub).iterdir():
            f.unlink()
    with pytest.raises(DataNotFoundError) as err:
        UnalignedDataModule(data_dir=str(unaligned_dir), image_size=8).prepare_data()
    msg = str(err.value)
    assert str(unaligned_dir) in msg and "trainB/, testA/" in msg and "trainA/, trainB/, testA/, testB/" in msg
    assert "data.data_dir=" in msg
    with pytest.raises(DataNotFoundError, match="does not exist"):
        UnalignedDataModule(data_dir=str(tmp_path / "nope"), image_size=8).prepare_data()


# ---- loader order, resume, workers ----

def test_keyed_sampler_matches_resumable_order():
    base = ResumableRandomSampler(10, seed=4)
    base.set_epoch(3)
    base.resume_from(3, 4)
    keyed = EpochKeyedSampler.from_sampler(base)
    assert list(keyed) == [(3, i) for i in ResumableRandomSampler(10, seed=4).order(3)[4:].tolist()]
    assert list(keyed) == [(3, i) for i in ResumableRandomSampler(10, seed=4).order(3).tolist()]  # one-shot



def _batches(loader):
    return [torch.cat([b["A"].flatten(1), b["B"].flatten(1)], 1) for b in loader]


def test_resume_mid_epoch_gives_the_same_batches(unaligned_dir):
    kw = dict(data_dir=str(unaligned_dir), image_size=8, batch_size=2, seed=7)
    dm = _dm(UnalignedDataModule, **kw)
    dm.trainer = SimpleNamespace(current_epoch=1)
    full = _batches(dm.train_dataloader())
    assert len(full) == 4  # 9 // 2
    dm.trainer = fake_trainer(epoch=1, processed=2)
    state = dm.state_dict()
    resumed = _dm(UnalignedDataModule, **kw)
    resumed.trainer = SimpleNamespace(current_epoch=1)
    resumed.load_state_dict(state)
    tail = _batches(resumed.train_dataloader())
    assert len(tail) == 2 and all(torch.equal(a, b) for a, b in zip(tail, full[2:]))


def test_workers_give_the_same_batches_and_global_rng_untouched(aligned_dir):
    before = torch.get_rng_state()
    main = _batches(_dm(data_dir=str(aligned_dir), num_workers=0).train_dataloader())
    assert torch.equal(before, torch.get_rng_state())
    workers = _batches(_dm(data_dir=str(aligned_dir), num_workers=2).train_dataloader())
    assert len(main) == 6 and all(torch.equal(a, b) for a, b in zip(main, workers))


class PairRecorder(BatchRecorder):
    def record(self, batch) -> list[int]:
        return [_value(a) * 1000 + _value(b) for a, b in zip(batch["A"], batch["B"])]


@pytest.mark.filterwarnings("ignore:.*resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("num_workers", [0, 2])
def test_lightning_resume_mid_epoch_is_exact(unaligned_dir, tmp_path, num_workers):
    kw = dict(data_dir=str(unaligned_dir), image_size=8, batch_size=2, seed=3, num_workers=num_workers)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}")
    straight = fit_recording(tmp_path, UnalignedDataModule(**kw), callbacks=[ckpt], recorder=PairRecorder)
    assert len(straight) == 8 and straight[:4] != straight[4:]
    for step in (1, 6):  # mid-epoch 0, mid-epoch 1
        resumed = fit_recording(tmp_path, UnalignedDataModule(**kw), ckpt_path=tmp_path / "ckpt" / f"step={step}.ckpt",
                                recorder=PairRecorder)
        assert resumed == straight[step:], f"resume from step {step}"
