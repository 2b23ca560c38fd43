"""Semi-supervised datamodule: balanced reproducible labeled subset, label-free unlabeled stream, dict batches,
the cycling labeled stream and exact resume."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.data import SemiSupervisedFashionMNISTDataModule, SemiSupervisedMNISTDataModule
from gan_lightning.data.semi_supervised import LabeledStream, UnlabeledImages, balanced_labeled_indices

# Synthetic train labels: 3 classes of 20, 30 and 25 images (no data files needed).
TARGETS = torch.cat([torch.full((20,), 0), torch.full((30,), 1), torch.full((25,), 2)])[torch.randperm(75, generator=torch.Generator().manual_seed(5))]


def test_labeled_subset_is_balanced_and_seeded():
    idx = balanced_labeled_indices(TARGETS, num_labeled=12, num_classes=3, labeled_seed=0)
    assert idx.dtype == torch.int64 and len(idx) == len(set(idx.tolist())) == 12
    assert torch.bincount(TARGETS[idx], minlength=3).tolist() == [4, 4, 4]
    again = balanced_labeled_indices(TARGETS, num_labeled=12, num_classes=3, labeled_seed=0)
    other = balanced_labeled_indices(TARGETS, num_labeled=12, num_classes=3, labeled_seed=1)
    assert torch.equal(idx, again)
    assert not torch.equal(idx, other)
    assert torch.bincount(TARGETS[other], minlength=3).tolist() == [4, 4, 4]


def test_labeled_subset_does_not_touch_global_rng():
    state = torch.get_rng_state()
    balanced_labeled_indices(TARGETS, num_labeled=12, num_classes=3, labeled_seed=0)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("num_labeled", [0, 13, -3])
def test_num_labeled_not_a_multiple_of_classes(num_labeled):
    with pytest.raises(ValueError, match=rf"data\.num_labeled={num_labeled}.*multiple of the 3 classes"):
        balanced_labeled_indices(TARGETS, num_labeled=num_labeled, num_classes=3, labeled_seed=0)


def test_num_labeled_larger_than_a_class():
    # 20 per class: class 0 has 20 images and at least one must stay unlabeled.
    with pytest.raises(ValueError, match=r"data\.num_labeled=60.*class 0 has only 20.*at most 57"):
        balanced_labeled_indices(TARGETS, num_labeled=60, num_classes=3, labeled_seed=0)


def test_num_labeled_checked_at_construction(tmp_path):
    with pytest.raises(ValueError, match=r"data\.num_labeled=105"):
        SemiSupervisedMNISTDataModule(data_dir=str(tmp_path), image_size=28, num_labeled=105)


def test_labeled_stream_cycles_through_every_image_each_pass():
    images, labels = torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10)
    stream = LabeledStream(images, labels, batch_size=4, seed=3)
    positions = torch.cat([stream.indices(g) for g in range(5)])  # 20 positions = 2 passes over 10 images
    assert sorted(positions[:10].tolist()) == list(range(10)) and sorted(positions[10:].tolist()) == list(range(10))
    assert not torch.equal(positions[:10], positions[10:])  # each pass reshuffled
    x, y = stream.batch(2)
    assert torch.equal(x.flatten().long(), y) and torch.equal(y, positions[8:12])
    assert torch.equal(LabeledStream(images, labels, 4, seed=3).indices(7), stream.indices(7))  # pure function
    assert not all(torch.equal(LabeledStream(images, labels, 4, seed=4).indices(g), stream.indices(g)) for g in range(3))


def test_unlabeled_images_have_no_label():
    base = [(torch.full((1, 2, 2), float(i)), i) for i in range(6)]
    unlabeled = UnlabeledImages(base, torch.tensor([1, 4]))
    assert len(unlabeled) == 2
    assert isinstance(unlabeled[1], torch.Tensor) and unlabeled[1].shape == (1, 2, 2) and unlabeled[1][0, 0, 0] == 4


def _dm(data_dir, tmp_path, cls=SemiSupervisedMNISTDataModule, **kwargs):
    args = dict(data_dir=str(data_dir), cache_dir=str(tmp_path), image_size=28, batch_size=16, batches_per_step=2,
                num_labeled=100, labeled_seed=0, seed=1)
    dm = cls(**{**args, **kwargs})
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_mnist_semi_split_and_batches(data_dir, tmp_path):
    dm = _dm(data_dir, tmp_path)
    full = dm.labeled_set.dataset
    targets = torch.as_tensor(full.targets)
    assert (dm.name, dm.channels, dm.num_classes, dm.image_size) == ("mnist", 1, 10, 28)
    # Balanced labeled subset, labels and images taken from the train split at those indices.
    assert torch.bincount(targets[dm.labeled_indices], minlength=10).tolist() == [10] * 10
    assert torch.equal(dm.labeled_labels, targets[dm.labeled_indices])
    assert torch.equal(dm.labeled_images[3], full[int(dm.labeled_indices[3])][0])
    # The rest of the train split, images only, disjoint from the labeled subset.
    assert isinstance(dm.train_set, UnlabeledImages) and len(dm.train_set) == 60000 - 100
    assert not set(dm.train_set.indices) & set(dm.labeled_indices.tolist())
    assert isinstance(dm.train_set[0], torch.Tensor)
    assert len(dm.test_set) == 10000 and isinstance(dm.test_set[0], tuple)

    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"labeled", "unlabeled"}
    (x_l, y_l), x_u = batch["labeled"], batch["unlabeled"]
    assert x_l.shape == (16, 1, 28, 28) and x_l.dtype == torch.float32
    assert y_l.shape == (16,) and y_l.dtype == torch.int64
    assert x_u.shape == (32, 1, 28, 28)  # batches_per_step * batch_size, no labels at all
    for x in (x_l, x_u):
        assert -1 <= x.min() < -0.99 and 0.99 < x.max() <= 1


def test_labeled_subset_reproducible_on_real_data(data_dir, tmp_path):
    a, b = _dm(data_dir, tmp_path), _dm(data_dir, tmp_path)
    c = _dm(data_dir, tmp_path, labeled_seed=1)
    assert torch.equal(a.labeled_indices, b.labeled_indices)
    assert not torch.equal(a.labeled_indices, c.labeled_indices)


def test_fashion_mnist_semi(data_dir, tmp_path):
    dm = _dm(data_dir, tmp_path, SemiSupervisedFashionMNISTDataModule, num_labeled=50)
    assert dm.name == "fashion_mnist"
    assert torch.bincount(dm.labeled_labels, minlength=10).tolist() == [5] * 10


def test_num_labeled_larger_than_available_real_data(data_dir, tmp_path):
    with pytest.raises(ValueError, match=r"data\.num_labeled=60000"):
        _dm(data_dir, tmp_path, num_labeled=60000)  # 6000 per class; MNIST's smallest class has 5421


def _take(loader, n):
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_resume_mid_epoch_continues_both_streams(data_dir, tmp_path):
    dm = _dm(data_dir, tmp_path)
    straight = _take(dm.train_dataloader(), 5)
    dm.load_state_dict({"epoch": 0, "samples_done": 3 * dm.loader_batch_size})  # 3 batches were consumed
    resumed = _take(dm.train_dataloader(), 2)
    for a, b in zip(straight[3:], resumed):
        assert torch.equal(a["unlabeled"], b["unlabeled"])
        assert torch.equal(a["labeled"][0], b["labeled"][0]) and torch.equal(a["labeled"][1], b["labeled"][1])


def test_labeled_stream_continues_across_epochs(data_dir, tmp_path):
    dm = _dm(data_dir, tmp_path)
    loader = dm.train_dataloader()
    first = _take(loader, 1)[0]
    loader.sampler.set_epoch(1)  # what Lightning does at each epoch start
    second_epoch = _take(loader, 1)[0]
    stream = LabeledStream(dm.labeled_images, dm.labeled_labels, dm.batch_size, dm.seed)
    # Global batch number epoch * len(loader) + i, not i: epoch 1 does not replay epoch 0's labeled batches.
    assert torch.equal(second_epoch["labeled"][1], stream.batch(len(loader))[1])
    assert torch.equal(first["labeled"][1], stream.batch(0)[1])
    assert not torch.equal(first["unlabeled"], second_epoch["unlabeled"])


def test_labeled_set_is_tiled_and_reshuffled_every_batch_when_the_batch_is_the_set():
    """The authors' MNIST setup (100 labels, batches of 100): each epoch tiles the labeled set, one reshuffled copy
    per batch, so every labeled image is seen exactly once per batch."""
    images, labels = torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10)
    stream = LabeledStream(images, labels, batch_size=10, seed=0)
    batches = [stream.indices(g) for g in range(6)]
    assert all(sorted(b.tolist()) == list(range(10)) for b in batches)
    assert len({tuple(b.tolist()) for b in batches}) == 6  # a new order each time


def test_generator_stream_is_a_second_independent_pass(data_dir, tmp_path):
    dm = _dm(data_dir, tmp_path, batches_per_step=1, generator_stream=True)
    loader = dm.train_dataloader()
    batches = _take(loader, 3)
    assert all(set(b) == {"labeled", "unlabeled", "unlabeled_g"} for b in batches)
    assert batches[0]["unlabeled_g"].shape == batches[0]["unlabeled"].shape == (16, 1, 28, 28)
    order = loader.sampler.order(0)
    second = loader.generator_stream.sampler.order(0)
    assert sorted(second.tolist()) == sorted(order.tolist()) and not torch.equal(second, order)  # same images, own order
    expected = torch.stack([dm.train_set[i] for i in second[16:32].tolist()])
    assert torch.equal(batches[1]["unlabeled_g"], expected)
    # Resumed mid-epoch, both unlabeled streams continue where they were.
    dm.load_state_dict({"epoch": 0, "samples_done": 2 * dm.loader_batch_size})
    resumed = _take(dm.train_dataloader(), 1)[0]
    assert torch.equal(resumed["unlabeled"], batches[2]["unlabeled"])
    assert torch.equal(resumed["unlabeled_g"], batches[2]["unlabeled_g"])


def test_generator_stream_needs_one_minibatch_per_step(tmp_path):
    with pytest.raises(ValueError, match=r"data\.generator_stream"):
        SemiSupervisedMNISTDataModule(data_dir=str(tmp_path), image_size=28, batch_size=4, batches_per_step=2,
                                      generator_stream=True)
