"""The standard-dataset experiments (dcgan_celeba, dcgan_cifar10, pix2pix_facades, cyclegan_horse2zebra) on tiny
datasets written here in exactly the public layouts and image sizes: each trains a step or two with its own image
size and nets and writes a checkpoint; its data arrive as the paper uses them; its metrics work or stop at start-up."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from gan_lightning.metrics.generative import InceptionWeightsError
from gan_lightning.models import build_model
from gan_lightning.train import train
from tests.hydra_utils import compose_config

DATASET_EXPERIMENTS = ("dcgan_celeba", "dcgan_cifar10", "pix2pix_facades", "cyclegan_horse2zebra")
QUIET = ["data.num_workers=0", "logger=none", "~callbacks.progress_bar"]
PHOTO, LABELS = (200, 40, 40), (40, 40, 200)  # flat colours of the facades halves (stored A | stored B)


def _jpgs(folder, n: int, size: tuple[int, int], seed: int) -> None:
    """``n`` random RGB JPEGs of ``size`` (width, height) in ``folder``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i + 1:06d}.jpg", quality=90)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """A GAN_DATA_DIR holding all four datasets in their public layouts, a few images each."""
    root = tmp_path_factory.mktemp("gan_data")
    _jpgs(root / "celeba" / "img_align_celeba", 8, (178, 218), 0)  # CelebA's aligned-and-cropped JPEGs
    _cifar10_batches(root / "cifar-10-batches-py")
    for split, n in (("train", 3), ("val", 2), ("test", 2)):  # pix2pix facades: 512x256, photo | label map
        (root / "facades" / split).mkdir(parents=True)
        for i in range(n):
            pair = Image.new("RGB", (512, 256), PHOTO)
            pair.paste(Image.new("RGB", (256, 256), LABELS), (256, 0))
            pair.save(root / "facades" / split / f"{i + 1}.jpg", quality=95)
    for i, (folder, n) in enumerate((("trainA", 2), ("trainB", 3), ("testA", 2), ("testB", 2))):
        _jpgs(root / "horse2zebra" / folder, n, (256, 256), 10 + i)
    return root


def _cifar10_batches(folder) -> None:
    """cifar-10-batches-py as the python release pickles it: data_batch_1..5 and test_batch, each a dict with
    ``data`` uint8 (N, 3072) (R, G, B planes of 32x32, row-major), ``labels``, ``batch_label``, ``filenames``; and
    batches.meta with the ten ``label_names``. Sixteen images a batch: 80 train images fill one batch of the domain
    classifier's 64."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"batch_label": name, "labels": rng.integers(0, 10, 16).tolist(),
                 "data": rng.integers(0, 256, (16, 3072), dtype=np.uint8),
                 "filenames": [f"x_{i}.png" for i in range(16)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            "num_cases_per_batch": 16, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


@pytest.fixture
def cifar10_checksums(datasets, monkeypatch):
    """torchvision checks every CIFAR-10 file's md5 and would download the real ones: give it the tiny files'."""
    from torchvision.datasets import CIFAR10

    folder = datasets / "cifar-10-batches-py"
    md5 = lambda name: hashlib.md5((folder / name).read_bytes()).hexdigest()  # noqa: E731
    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5(n)] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[n, md5(n)] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5("batches.meta")})


def compose(experiment: str, overrides: list[str], datasets, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(datasets))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GAN_INCEPTION_WEIGHTS", raising=False)
    return compose_config("train", [f"experiment={experiment}", *QUIET, *overrides], tmp_path / "run")


# experiment: (overrides for a CPU test: fewer images a batch, no Inception; image size and nets stay), g steps
RUNS = {
    "dcgan_celeba": (["data.batch_size=4", "metrics=none"], 2),
    "dcgan_cifar10": (["data.batch_size=4", "metrics=none"], 2),
    "pix2pix_facades": ([], 1),  # batch 1 and its own paired metrics
    "cyclegan_horse2zebra": ([], 1),
}


@pytest.mark.parametrize("experiment", DATASET_EXPERIMENTS)
def test_experiment_trains_on_its_public_layout(experiment, datasets, cifar10_checksums, tmp_path, monkeypatch):
    overrides, steps = RUNS[experiment]
    cfg = compose(experiment, [*overrides, f"max_g_steps={steps}"], datasets, tmp_path, monkeypatch)
    metrics = train(cfg)
    assert metrics["trainer/g_step"] == steps
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["gan_lightning"]["g_step"] == steps
    if experiment == "pix2pix_facades":  # the experiment's own metrics ran on the test pairs
        assert {"metrics/l1", "metrics/psnr", "metrics/ssim"} <= set(metrics)


def test_dcgan_nets_are_the_papers(datasets, tmp_path, monkeypatch):
    """64 px: z -> 512 @4x4 -> ... -> 3 @64x64 (base width 64); CIFAR-10 at 32 px: 256 @4x4."""
    for experiment, size, first_width in (("dcgan_celeba", 64, 512), ("dcgan_cifar10", 32, 256)):
        cfg = compose(experiment, [], datasets, tmp_path, monkeypatch)
        model = build_model(cfg)
        assert (cfg.data.batch_size, cfg.model.optimizer_g.lr, cfg.model.optimizer_g.betas[0]) == (128, 2e-4, 0.5)
        assert model.generator.net[0].weight.shape == (100, first_width, 4, 4)
        assert model.generate(2).shape == (2, 3, size, size)
        assert model.discriminator(torch.zeros(2, 3, size, size)).shape == (2,)


def test_celeba_images_are_center_cropped_to_64_px_rgb(datasets, tmp_path, monkeypatch):
    img = np.zeros((218, 178, 3), dtype=np.uint8)
    img[:10] = 255  # a white band at the top, outside the central 178x178 square (rows 20-197)
    folder = tmp_path / "celeba_band" / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    Image.fromarray(img).save(folder / "000001.png")
    cfg = compose("dcgan_celeba", [], tmp_path / "celeba_band", tmp_path, monkeypatch)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    x, _ = dm.train_set[0]
    assert x.shape == (3, 64, 64)
    assert x.max() < -0.9  # the band was cropped away, not squashed into the image


def test_facades_direction_is_labels_to_photo(datasets, tmp_path, monkeypatch):
    cfg = compose("pix2pix_facades", [], datasets, tmp_path, monkeypatch)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    pair = dm.test_set[0]
    to_rgb = lambda t: ((t.mean((1, 2)) + 1) * 127.5).round()  # noqa: E731
    assert pair["A"].shape == pair["B"].shape == (3, 256, 256)
    assert torch.allclose(to_rgb(pair["A"]), torch.tensor(LABELS, dtype=torch.float), atol=4)  # input: the label map
    assert torch.allclose(to_rgb(pair["B"]), torch.tensor(PHOTO, dtype=torch.float), atol=4)  # target: the photo
    model = build_model(cfg)
    assert model.generator.num_downs == 8 and model.discriminator.receptive_field == 70
    assert (cfg.model.lambda_l1, cfg.trainer.max_epochs, cfg.data.batch_size) == (100.0, 200, 1)


def test_horse2zebra_cyclegan_is_the_papers(datasets, tmp_path, monkeypatch):
    from gan_lightning.nets.resnet import ResnetBlock

    cfg = compose("cyclegan_horse2zebra", [], datasets, tmp_path, monkeypatch)
    model = build_model(cfg)
    for g in model.generator.values():
        assert sum(isinstance(m, ResnetBlock) for m in g.modules()) == 9
    assert all(d.receptive_field == 70 for d in model.discriminator.values())
    assert (model.lambda_cycle, model.lambda_identity, model.pools["A"].pool_size) == (10.0, 0.5, 50)
    assert (cfg.data.batch_size, cfg.trainer.max_epochs, cfg.loss.scale) == (1, 200, 1.0)
    assert (cfg.model.scheduler_g.n_epochs, cfg.model.scheduler_g.n_epochs_decay) == (100, 100)


@pytest.mark.parametrize("experiment", ["dcgan_celeba", "dcgan_cifar10"])
def test_generative_experiments_score_with_inception_and_stop_without_its_weights(experiment, datasets,
                                                                                 cifar10_checksums, tmp_path,
                                                                                 monkeypatch):
    cfg = compose(experiment, [], datasets, tmp_path, monkeypatch)
    assert cfg.metrics.feature_extractor == "inception"
    instantiate(cfg.metrics)  # the metrics config itself is valid (the weights load at fit setup)
    with pytest.raises(InceptionWeightsError, match="metrics.inception_weights") as err:
        train(cfg)
    if experiment == "dcgan_celeba":  # no labels: the domain classifier is not the way out
        assert "metrics=none" in str(err.value)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_cifar10_scores_offline_with_its_own_domain_classifier(datasets, cifar10_checksums, tmp_path, monkeypatch):
    """CIFAR-10 has labels: metrics.feature_extractor=domain trains a CIFAR-10 classifier first, then scores with it."""
    monkeypatch.setenv("GAN_CLASSIFIER_DIR", str(tmp_path / "classifiers"))
    small = ["metrics.generative.num_fake=8", "metrics.generative.num_real=8", "metrics.generative.batch_size=4",
             "metrics.generative.is_splits=2"]
    cfg = compose("dcgan_cifar10", ["data.batch_size=4", "max_g_steps=1", "metrics.feature_extractor=domain", *small],
                  datasets, tmp_path, monkeypatch)
    metrics = train(cfg)
    assert (tmp_path / "classifiers" / "cifar10_32.pt").is_file()
    assert {"metrics/domain_fid", "metrics/domain_is"} <= set(metrics)
