"""Pix2Pix: conditioning of D, the ablation switches, test-time dropout, grids, and learning on real edges2fashion."""

from __future__ import annotations

import csv

import pytest
import pytorch_lightning as pl
import torch

from gan_lightning.models import build_model
from gan_lightning.models.pix2pix import Pix2Pix
from gan_lightning.train import train
from tests.hydra_utils import compose_config

TINY = ["model.generator.base_width=4", "model.discriminator.base_width=4", "data.num_workers=0", "data.batch_size=4",
        "data.max_train=32", "data.max_test=8", "logger=none", "~callbacks.progress_bar"]


def make(tmp_path, *overrides: str) -> Pix2Pix:
    return build_model(compose_config("train", ["experiment=pix2pix_labels2fashion", *TINY, *overrides], tmp_path))


def pair(n: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"A": torch.rand(n, 3, 32, 32, generator=g) * 2 - 1, "B": torch.rand(n, 1, 32, 32, generator=g) * 2 - 1}


@pytest.mark.parametrize("conditional,channels", [(True, 4), (False, 1)])
def test_discriminator_sees_x_only_when_conditional(tmp_path, conditional, channels):
    model = make(tmp_path, f"model.conditional_d={conditional}")
    assert model.discriminator.in_channels == channels  # labels2fashion: C_A = 3, C_B = 1
    seen = []
    model.discriminator.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    batch = pair()
    model.discriminator_loss(batch)
    real_input = seen[0]
    assert real_input.shape[1] == channels
    if conditional:
        assert torch.equal(real_input[:, :3], batch["A"]) and torch.equal(real_input[:, 3:], batch["B"])
    else:
        assert torch.equal(real_input, batch["B"])


def test_mismatched_discriminator_channels_are_refused(tmp_path):
    with pytest.raises(Exception, match="discriminator.in_channels=4 .*conditional_d=False"):
        make(tmp_path, "model.conditional_d=false", "model.discriminator.in_channels=4")


def test_generator_loss_terms_follow_the_weights(tmp_path):
    model = make(tmp_path)
    batch = pair()
    loss, logs = model.generator_loss(batch)
    assert float(loss) == pytest.approx(float(100 * logs["loss/g_l1"] + logs["loss/g_gan"]), rel=1e-5)
    l1_only = make(tmp_path, "model.lambda_gan=0")
    loss, logs = l1_only.generator_loss(batch)
    assert "loss/g_gan" not in logs and float(loss) == pytest.approx(100 * float(logs["loss/g_l1"]))
    assert not l1_only.uses_discriminator and l1_only.optimizer_steps_per_g_step == 1
    with pytest.raises(Exception, match="lambda_l1=0 and model.lambda_gan=0"):
        make(tmp_path, "model.lambda_gan=0", "model.lambda_l1=0")


def test_l1_only_never_updates_d_and_counts_g_steps(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = compose_config("train", ["experiment=pix2pix_edges2fashion", *TINY, "model.lambda_gan=0", "max_g_steps=3",
                                   "metrics.evaluators.paired.max_samples=4"], tmp_path / "run")
    pl.seed_everything(cfg.seed)  # as train() does before building the model
    model = build_model(cfg)
    before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    train(cfg)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["gan_lightning"]["g_step"] == 3
    d_after = {k.removeprefix("discriminator."): v for k, v in ckpt["state_dict"].items() if k.startswith("discriminator.")}
    for key, value in before.items():  # same init (seeded) and no D step
        assert torch.equal(value, d_after[key]), key


@pytest.mark.parametrize("test_dropout", [True, False])
def test_dropout_is_the_test_time_noise(tmp_path, test_dropout):
    model = make(tmp_path, f"model.test_dropout={test_dropout}").eval()
    x = pair()["A"]
    a, b = model.translate(x), model.translate(x)
    assert a.shape == (2, 1, 32, 32) and a.abs().max() <= 1
    assert torch.equal(a, b) != test_dropout
    assert not any(m.training for m in model.modules())  # flags restored


def test_fixed_grid_rows_are_input_output_target(tmp_path):
    model = make(tmp_path, "model.test_dropout=false")
    batch = pair(3)
    model.fixed_batch = batch
    grid = model.generate_fixed()
    assert grid.shape == (9, 3, 32, 32) and model.sample_grid_nrow == 3
    assert torch.equal(grid[:3], batch["A"])
    assert torch.equal(grid[3:6], model.translate(batch["A"]).expand(-1, 3, -1, -1))
    assert torch.equal(grid[6:], batch["B"].expand(-1, 3, -1, -1))
    assert model.num_fixed_samples == 3  # the pairs in the grid, not the 8 asked for


def test_translation_model_has_no_z_sampling(tmp_path):
    model = make(tmp_path)
    assert not model.uses_latent and model.num_fixed_samples == 8
    assert not any(hasattr(model, name) for name in ("fixed_z", "fixed_condition", "generate", "sample_latent"))
    assert not any(key.startswith("fixed_") for key in model.state_dict())
    x = pair()["A"]
    model.eval()  # no dropout: forward is G itself, in its current mode
    assert torch.equal(model(x), model.generator(x))


def test_checkpoint_written_before_the_z_split_still_loads(tmp_path):
    """Such checkpoints hold zero-width fixed_z / fixed_condition buffers and model.fixed_seed in their config."""
    model = make(tmp_path)
    old = {**model.state_dict(), "fixed_z": torch.empty(8, 0), "fixed_condition": torch.empty(0)}
    again = make(tmp_path)  # conf/base/gan.yaml passes model.fixed_seed too
    again.load_state_dict(old)  # strict
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in again.state_dict().items())
    with pytest.raises(RuntimeError, match="fixed_z"):  # only the zero-width legacy entries are dropped
        again.load_state_dict({**model.state_dict(), "fixed_z": torch.zeros(8, 4)})


LEARN_G_STEPS = 150


def test_pix2pix_lowers_test_l1_on_real_edges2fashion(data_dir, tmp_path, monkeypatch):
    """A short CPU run on real Canny-edge / Fashion-MNIST pairs: the test L1 of G(x) against y drops clearly."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = compose_config("train", [
        "experiment=pix2pix_edges2fashion", f"max_g_steps={LEARN_G_STEPS}", "logger=csv", "~callbacks.progress_bar",
        "model.generator.base_width=16", "model.discriminator.base_width=16", "data.num_workers=0",
        "data.batch_size=16", "data.max_train=2000", "data.max_test=200",
        f"metrics.every_n_g_steps={LEARN_G_STEPS}", "callbacks.sample_grid.every_n_g_steps=1000",
    ], tmp_path / "run")
    metrics = train(cfg)
    rows = list(csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")))
    l1, ssim = ({int(float(r["trainer/g_step"])): float(r[f"metrics/{k}"]) for r in rows if r.get(f"metrics/{k}")}
                for k in ("l1", "ssim"))
    print(f"test L1 by g_step: {l1}, SSIM: {ssim}")
    assert sorted(l1) == [0, LEARN_G_STEPS]
    assert l1[LEARN_G_STEPS] < 0.6 * l1[0]  # 0.76 -> 0.34 when written
    assert ssim[LEARN_G_STEPS] > ssim[0] + 0.1
    assert metrics["metrics/l1"] == pytest.approx(l1[LEARN_G_STEPS])
    assert list((tmp_path / "run" / "samples").glob("g_step=*.png"))
