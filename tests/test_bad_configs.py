"""Invalid configurations fail at start-up, before any training step, with one line naming the key and what is
allowed. One table, one row per case."""

from __future__ import annotations

import pytest
import torch
from hydra.errors import HydraException

from gan_lightning.train import train
from tests.hydra_utils import compose_config

TINY = ["data.num_workers=0", "data.batch_size=8", "logger=none", "metrics=none", "~callbacks.progress_bar",
        "max_g_steps=1"]

# (case, overrides, exception, message pattern)
CASES = [
    ("zero lr", ["model.optimizer_g.lr=0"], ValueError, r"model\.optimizer_g\.lr must be > 0, got 0"),
    ("negative lr", ["model.optimizer_d.lr=-1e-4"], ValueError, r"model\.optimizer_d\.lr must be > 0"),
    ("baseline lr", ["experiment=supervised_mnist_100", "model.optimizer.lr=0"], ValueError,
     r"model\.optimizer\.lr must be > 0"),
    ("n_critic < 1", ["model.n_critic=0"], ValueError, r"data\.batches_per_step=0 .*\(model\.n_critic\) and must be >= 1"),
    ("U-Net depth", ["experiment=pix2pix_edges2fashion", "data.max_train=8", "data.max_test=4",
                     "model.generator.image_size=48"], ValueError, r"model\.generator\.image_size"),
    ("receptive field", ["experiment=pix2pix_edges2fashion", "data.max_train=8", "data.max_test=4",
                         "model.discriminator.receptive_field=50"], ValueError, r"model\.discriminator\.receptive_field.*1, 16, 70, 286"),
    ("num_labeled too large", ["experiment=sgan_mnist_100", "data.num_labeled=70000"], ValueError, r"data\.num_labeled=70000"),
    ("num_labeled not balanced", ["experiment=sgan_mnist_100", "data.num_labeled=105"], ValueError,
     r"data\.num_labeled=105 is invalid: use a positive multiple of the 10 classes"),
    ("unknown model", ["model=stylegan"], HydraException, r"Could not find 'model/stylegan'[\s\S]*Available options in 'model'[\s\S]*dcgan"),
    ("unknown loss", ["loss=wasserstein"], HydraException, r"Could not find 'loss/wasserstein'[\s\S]*wgan_gp"),
    ("unknown dataset", ["data=celeba"], HydraException, r"Could not find 'data/celeba'[\s\S]*fashion_mnist"),
    ("missing checkpoint", ["ckpt_path=/nonexistent/last.ckpt"], FileNotFoundError, r"ckpt_path='/nonexistent/last\.ckpt'"),
    ("bad interpolation", ["model.scheduler_interval=batch"], ValueError, r"model\.scheduler_interval must be 'g_step' or 'epoch'"),
    ("bad norm", ["experiment=pix2pix_edges2fashion", "data.max_train=8", "data.max_test=4",
                  "model.generator.norm=layer"], ValueError, r"norm must be one of \('batch', 'instance'\)"),
]


@pytest.mark.parametrize("case,overrides,error,pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_config_fails_at_start_up(case, overrides, error, pattern, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(error, match=pattern) as info:
        train(compose_config("train", [*TINY, *overrides], tmp_path / "run"))
    if not isinstance(info.value, HydraException):
        assert "\n" not in str(info.value).strip()  # one line
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained


def test_checkpoint_of_another_model_is_refused(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    train(compose_config("train", [*TINY, "model.generator.base_width=8", "model.discriminator.base_width=8"],
                         tmp_path / "dcgan"))
    ckpt = tmp_path / "dcgan" / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True)["gan_lightning"]["g_step"] == 1
    with pytest.raises(ValueError, match=r"holds a GAN checkpoint .* but this run builds ConditionalGAN"):
        train(compose_config("train", [*TINY, "experiment=cgan_mnist", "max_g_steps=2", f"ckpt_path={ckpt}"],
                             tmp_path / "cgan"))
