"""`python -m gan_lightning.sample mode=class_grid` on a tiny cGAN checkpoint trained here through `gan_lightning.train`."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from gan_lightning import CONFIG_DIR
from gan_lightning.checkpoint import load_module
from gan_lightning.models.cgan import ConditionalGAN
from gan_lightning.sample import class_labels, sample_images
from gan_lightning.train import train
from tests.hydra_utils import compose_config
from tests.models.test_base import make_model
from tests.models.test_cgan import make_model as make_cgan

MNIST_NAMES = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]


@pytest.fixture(scope="module")
def checkpoint(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cgan")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_DATA_DIR", str(data_dir))
        cfg = compose_config("train", [
            "experiment=cgan_mnist", "max_g_steps=3", "data.num_workers=0", "data.batch_size=8", "logger=none",
            "model.generator.base_width=8", "model.discriminator.base_width=8", "model.ema_decay=0.5",
            "~callbacks.progress_bar", "metrics.generative=null", "~metrics.evaluators.class_accuracy",
        ], out)
        train(cfg)
    return out / "checkpoints" / "last.ckpt"


def sample_cfg(**kw):
    cfg = OmegaConf.load(CONFIG_DIR / "sample.yaml")
    del cfg["defaults"], cfg["hydra"]
    return OmegaConf.merge(cfg, kw)


def test_class_grid_rows_are_classes(checkpoint):
    model = load_module(str(checkpoint))
    assert isinstance(model, ConditionalGAN) and model.g_step == 3
    images, nrow = sample_images(model, sample_cfg(ckpt_path=str(checkpoint), mode="class_grid", num_per_class=3, seed=5))
    assert nrow == 3 and images.shape == (30, 1, 28, 28)
    # Row k is exactly G(z, k) for the CLI's seeded z: the labels are arange(K) repeated per column.
    z = model.sample_latent(30, torch.Generator().manual_seed(5))
    expected = model.generate_from(z, torch.arange(10).repeat_interleave(3))
    torch.testing.assert_close(images, expected)
    # ... and the label matters: another label order gives other rows.
    assert not torch.allclose(images, model.generate_from(z, torch.arange(10).repeat(3)))


def test_class_grid_cli(checkpoint, tmp_path):
    out = tmp_path / "classes.png"
    result = subprocess.run(
        [sys.executable, "-m", "gan_lightning.sample", f"ckpt_path={checkpoint}", "mode=class_grid", f"output={out}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (10 * 30 + 2, 10 * 30 + 2)  # num_per_class=10 columns, 10 class rows, 28 px + 2
    assert "100 images, generator step 3" in result.stdout
    assert "rows: " + ", ".join(f"{i}={n}" for i, n in enumerate(MNIST_NAMES)) in result.stdout
    assert not (tmp_path / "outputs").exists()


def test_grid_and_interpolate_still_work_for_cgan(checkpoint, tmp_path):
    model = load_module(str(checkpoint))
    images, nrow = sample_images(model, sample_cfg(mode="grid", num_samples=12, nrow=4))
    assert images.shape == (12, 1, 28, 28) and nrow == 4
    images, nrow = sample_images(model, sample_cfg(mode="interpolate", num_rows=2, steps=5))
    assert images.shape == (10, 1, 28, 28) and nrow == 5


def test_class_grid_needs_a_conditional_model():
    with pytest.raises(ValueError, match="class-conditional checkpoint"):
        sample_images(make_model(), sample_cfg(mode="class_grid"))
    with pytest.raises(ValueError, match="num_per_class must be >= 1"):
        class_labels(make_cgan(), 0)
    with pytest.raises(ValueError, match="'grid', 'interpolate' or 'class_grid'"):
        sample_images(make_model(), sample_cfg(mode="classes"))

