"""Translation tasks built from the real Fashion-MNIST files (small max_train / max_test)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets

from gan_lightning.data import DataNotFoundError
from gan_lightning.data.fashion_tasks import (
    LABELS2FASHION_PALETTE,
    Edges2FashionDataModule,
    Labels2FashionDataModule,
    Labels2FashionUnpairedDataModule,
    Sneaker2BootDataModule,
    build_fashion_task,
    decode_label_map,
    encode_label_map,
    foreground_mask,
    read_manifest,
    task_dir_name,
    upsample,
)
from tests.data.fakes import fake_trainer

MAX_TRAIN, MAX_TEST = 64, 32


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("translation_cache")


@pytest.fixture(scope="module")
def raw(data_dir):
    out = {}
    for split, train in (("train", True), ("test", False)):
        ds = datasets.FashionMNIST(str(data_dir), train=train, download=True)  # the fixture's copy is writable
        out[split] = (ds.data, ds.targets)
    return out


def _dm(cls, data_dir, cache_dir, **kw):
    dm = cls(**(dict(data_dir=str(data_dir), cache_dir=str(cache_dir), max_train=MAX_TRAIN, max_test=MAX_TEST,
                     batch_size=8, seed=1) | kw))
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _pixels(path) -> torch.Tensor:
    with Image.open(path) as img:
        return torch.from_numpy(np.array(img))


def _files(folder):
    return sorted(folder.glob("*.png"))


def test_edges2fashion(data_dir, cache_dir, raw):
    dm = _dm(Edges2FashionDataModule, data_dir, cache_dir)
    assert (dm.name, dm.channels_a, dm.channels_b, dm.num_classes) == ("edges2fashion", 1, 1, None)
    assert len(dm.train_set) == MAX_TRAIN and len(dm.test_set) == MAX_TEST and dm.test_split == "test"
    folder = dm.dataset_dir
    assert folder.name == task_dir_name("edges2fashion", 32, MAX_TRAIN, MAX_TEST) and folder.parent == cache_dir / "translation"
    manifest = read_manifest(folder)
    assert manifest["folders"]["train"]["source_index"] == list(range(MAX_TRAIN))
    for split, n in (("train", MAX_TRAIN), ("test", MAX_TEST)):
        files = _files(folder / split)
        assert len(files) == n
        photos = upsample(raw[split][0][:n], 32)
        for j, path in enumerate(files):
            pair = _pixels(path)
            assert pair.shape == (32, 64) and pair.dtype == torch.uint8
            edges, photo = pair[:, :32], pair[:, 32:]
            assert set(edges.unique().tolist()) == {0, 255}  # binary and nonempty: black edges on white
            assert (edges == 0).float().mean() < 0.5
            assert torch.equal(photo, photos[j])
    # Loaded test items are the stored images in [-1, 1] (same size: no resize), so the edges stay binary.
    item = dm.test_set[0]
    assert item["A"].shape == (1, 32, 32) and set(item["A"].unique().tolist()) == {-1.0, 1.0}
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == (8, 1, 32, 32) and batch["B"].shape == (8, 1, 32, 32)


def test_labels2fashion_ids(data_dir, cache_dir, raw):
    dm = _dm(Labels2FashionDataModule, data_dir, cache_dir)
    assert (dm.name, dm.channels_a, dm.channels_b, dm.a_is_label_map) == ("labels2fashion", 3, 1, True)
    images, labels = raw["test"]
    photos = upsample(images[:MAX_TEST], 32)
    test = [dm.test_set[i] for i in range(MAX_TEST)]
    ids = decode_label_map(torch.stack([t["A"] for t in test]))
    assert ids.shape == (MAX_TEST, 32, 32) and ids.dtype == torch.int64 and 0 <= ids.min() and ids.max() <= 10
    for i in range(MAX_TEST):
        cls = int(labels[i]) + 1
        assert set(ids[i].unique().tolist()) == {0, cls}  # background 0, the item class + 1
        fg = ids[i] > 0
        assert torch.equal(fg, foreground_mask(photos[i : i + 1])[0])
        assert bool(fg[photos[i] > 0.1 * photos[i].max()].all())  # every bright pixel is labeled
        assert bool((photos[i][~fg] <= 0.1 * photos[i].max().float()).all())  # background: at most the threshold
        assert torch.equal(test[i]["B"][0], photos[i].float() / 127.5 - 1)
    assert len(ids.flatten().unique()) > 3  # several classes among the first test items


def test_labels2fashion_label_maps_survive_the_loader(data_dir, cache_dir):
    dm = _dm(Labels2FashionDataModule, data_dir, cache_dir, load_size=40)  # jitter upsamples 32 -> 40, crops 32
    for batch in dm.train_dataloader():
        a = batch["A"]
        assert torch.equal(encode_label_map(decode_label_map(a)), a)  # exact palette colours: nearest resize
        for ids in decode_label_map(a):
            assert len(ids.unique()) == 2  # background and one item class: no blended ids at borders


def test_encode_decode_round_trip():
    ids = torch.randint(0, 11, (4, 9, 7), generator=torch.Generator().manual_seed(0))
    images = encode_label_map(ids)
    assert images.shape == (4, 3, 9, 7) and images.dtype == torch.float32 and images.min() >= -1 and images.max() <= 1
    assert torch.equal(decode_label_map(images), ids)
    assert torch.equal(decode_label_map(images[0]), ids[0])
    noisy = images + 0.3 * torch.rand(images.shape, generator=torch.Generator().manual_seed(1)) - 0.15
    assert torch.equal(decode_label_map(noisy.clamp(-1, 1)), ids)  # nearest colour tolerates a generator's error
    assert len({tuple(c) for c in LABELS2FASHION_PALETTE.tolist()}) == 11 and LABELS2FASHION_PALETTE[0].sum() == 0
    with pytest.raises(ValueError, match="0..10"):
        encode_label_map(torch.tensor([[11]]))
    with pytest.raises(ValueError, match="3"):
        decode_label_map(torch.zeros(2, 1, 4, 4))


def test_sneaker2boot_classes(data_dir, cache_dir, raw):
    dm = _dm(Sneaker2BootDataModule, data_dir, cache_dir)
    assert (dm.name, dm.channels_a, dm.channels_b) == ("sneaker2boot", 1, 1)
    folder, manifest = dm.dataset_dir, read_manifest(dm.dataset_dir)
    for split, n in (("train", MAX_TRAIN), ("test", MAX_TEST)):
        images, labels = raw[split]
        for domain, cls in (("A", 7), ("B", 9)):
            entry = manifest["folders"][f"{split}{domain}"]
            index = torch.tensor(entry["source_index"])
            assert len(index) == n and entry["source_split"] == split
            assert torch.equal(index, torch.nonzero(labels == cls).flatten()[:n])  # the first n of the class
            assert bool((labels[index] == cls).all()) and entry["label"] == [cls] * n
            files = _files(folder / f"{split}{domain}")
            assert len(files) == n
            photos = upsample(images[index], 32)
            assert all(torch.equal(_pixels(p), photos[j]) for j, p in enumerate(files))
    assert len(dm.train_set) == MAX_TRAIN and len(dm.test_set) == MAX_TEST
    boots = upsample(raw["test"][0][torch.nonzero(raw["test"][1] == 9).flatten()[:MAX_TEST]], 32)
    assert torch.equal(dm.test_set[5]["B"][0], boots[5].float() / 127.5 - 1)  # A_i with B_(i mod len B)
    swapped = _dm(Sneaker2BootDataModule, data_dir, cache_dir, direction="BtoA")
    assert torch.equal(swapped.test_set[5]["A"], dm.test_set[5]["B"])


def test_labels2fashion_unpaired_has_no_aligned_train_pairs(data_dir, cache_dir, raw):
    dm = _dm(Labels2FashionUnpairedDataModule, data_dir, cache_dir)
    assert (dm.channels_a, dm.channels_b, dm.a_is_label_map) == (3, 1, True)
    folder, manifest = dm.dataset_dir, read_manifest(dm.dataset_dir)
    for split, n in (("train", MAX_TRAIN), ("test", MAX_TEST)):
        images, labels = raw[split]
        a, b = manifest["folders"][f"{split}A"], manifest["folders"][f"{split}B"]
        assert a["source_index"] == list(range(n))
        assert sorted(b["source_index"]) == a["source_index"]  # the same items ...
        if split == "test":  # ... paired for evaluation
            assert b["source_index"] == a["source_index"]
            continue
        assert all(i != j for i, j in zip(a["source_index"], b["source_index"]))  # ... never at the same position in train
        photos = upsample(images[:n], 32)
        files_a, files_b = _files(folder / f"{split}A"), _files(folder / f"{split}B")
        for j in range(n):
            ids = decode_label_map(torch.from_numpy(np.array(Image.open(files_a[j]))).permute(2, 0, 1)[None] / 127.5 - 1)[0]
            assert set(ids.unique().tolist()) == {0, int(labels[j]) + 1}
            assert torch.equal(_pixels(files_b[j]), photos[b["source_index"][j]])
            assert not torch.equal(_pixels(files_b[j]), photos[j])
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == (8, 3, 32, 32) and batch["B"].shape == (8, 1, 32, 32)
    assert torch.equal(encode_label_map(decode_label_map(batch["A"])), batch["A"])



@pytest.mark.parametrize("cls", [Labels2FashionDataModule, Sneaker2BootDataModule])
def test_resume_mid_epoch_and_workers(data_dir, cache_dir, cls):
    def batches(dm):
        return [torch.cat([b["A"].flatten(1), b["B"].flatten(1)], 1) for b in dm.train_dataloader()]

    dm = _dm(cls, data_dir, cache_dir, batches_per_step=2)  # 16 pairs per batch, 4 batches per epoch
    dm.trainer = SimpleNamespace(current_epoch=2)
    full = batches(dm)
    assert len(full) == 4
    dm.trainer = fake_trainer(epoch=2, processed=1)
    resumed = _dm(cls, data_dir, cache_dir, batches_per_step=2, num_workers=2)
    resumed.trainer = SimpleNamespace(current_epoch=2)
    resumed.load_state_dict(dm.state_dict())
    tail = batches(resumed)
    assert len(tail) == 3 and all(torch.equal(x, y) for x, y in zip(tail, full[1:]))


def test_cache_is_reused_and_keyed_by_config(data_dir, cache_dir):
    kw = dict(data_dir=data_dir, cache_dir=cache_dir, image_size=32, max_train=MAX_TRAIN, max_test=MAX_TEST)
    first = build_fashion_task("edges2fashion", **kw)
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert build_fashion_task("edges2fashion", **kw) == first and (first / "manifest.json").stat().st_mtime_ns == stamp
    other = build_fashion_task("edges2fashion", **(kw | dict(image_size=64, max_train=4, max_test=2)))
    assert other != first and other.name == "edges2fashion_64px_train-4_test-2_v2"
    assert len(_files(other / "train")) == 4 and _pixels(_files(other / "test")[0]).shape == (64, 128)
    assert not [p for p in (cache_dir / "translation").iterdir() if p.name.startswith(".")]  # no temp folders left


def test_missing_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.FashionMNIST, "download", lambda self: (_ for _ in ()).throw(RuntimeError("offline")))
    dm = Edges2FashionDataModule(data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), max_train=4)
    with pytest.raises(DataNotFoundError) as err:
        dm.prepare_data()
    msg = str(err.value)
    assert "edges2fashion" in msg and "FashionMNIST/raw/train-images-idx3-ubyte.gz" in msg
    assert str((tmp_path / "data").resolve()) in msg and "paths.data_dir" in msg
    assert not (tmp_path / "cache" / "translation").exists() or not any((tmp_path / "cache" / "translation").iterdir())


@pytest.mark.parametrize(
    "cls, kw, key",
    [(Labels2FashionDataModule, dict(channels_a=1), "channels_a"),
     (Labels2FashionDataModule, dict(direction="BtoA", channels_a=3, channels_b=1), "channels_a"),
     (Labels2FashionDataModule, dict(a_is_label_map=False), "a_is_label_map"),
     (Edges2FashionDataModule, dict(image_size=28), "image_size"),
     (Labels2FashionUnpairedDataModule, dict(max_train=1), "max_train")],
)
def test_task_options_checked(tmp_path, cls, kw, key):
    with pytest.raises(ValueError, match=rf"data\.{key}="):
        cls(data_dir=str(tmp_path), cache_dir=str(tmp_path), **kw)


def test_direction_sets_channels(tmp_path):
    dm = Labels2FashionDataModule(data_dir=str(tmp_path), cache_dir=str(tmp_path), direction="BtoA")
    assert (dm.channels_a, dm.channels_b, dm.image_size, dm.batch_size) == (1, 3, 32, 64)


def test_read_only_data_dir_is_copied_to_cache(shared_data_dir, tmp_path):
    before = sorted(str(p) for p in shared_data_dir.rglob("*"))
    dm = _dm(Sneaker2BootDataModule, shared_data_dir, tmp_path, max_train=4, max_test=2)
    assert len(dm.train_set) == 4 and dm.dataset_dir.parent == tmp_path / "translation"
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()  # vision.py's copy
    assert sorted(str(p) for p in shared_data_dir.rglob("*")) == before
