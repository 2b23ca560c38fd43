"""CycleGAN: objective composition, image pools in D steps and checkpoints, exact resume, grids, and a real
sneaker -> boot run scored by the domain classifier."""

from __future__ import annotations

import csv

import pytest
import torch

from gan_lightning.models import build_model
from gan_lightning.models.cyclegan import CycleGAN
from gan_lightning.train import train
from gan_lightning.train_classifier import train_classifier
from tests.hydra_utils import compose_config

TINY = ["model.generator.modules.AtoB.base_width=4", "model.generator.modules.AtoB.n_blocks=1",
        "model.discriminator.modules.A.base_width=4", "data.num_workers=0", "data.batch_size=2",
        "data.max_train=16", "data.max_test=4", "logger=none", "~callbacks.progress_bar",
        "~metrics.evaluators.translation_success"]


def make(tmp_path, *overrides: str) -> CycleGAN:
    return build_model(compose_config("train", ["experiment=cyclegan_sneaker2boot", *TINY, *overrides], tmp_path))


def images(n: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(n, 1, 32, 32, generator=g) * 2 - 1, "B": torch.rand(n, 1, 32, 32, generator=g) * 2 - 1}


def test_config_builds_two_generators_and_discriminators(tmp_path):
    model = make(tmp_path)
    assert set(model.generator) == {"AtoB", "BtoA"} and set(model.discriminator) == {"A", "B"}
    assert model.generator["BtoA"].n_blocks == 1  # follows AtoB's settings
    assert model.loss.scale == 1.0 and model.lambda_cycle == 10.0 and model.lambda_identity == 0.5
    with pytest.raises(ValueError, match="model.generator must be a torch.nn.ModuleDict"):
        CycleGAN(model.generator["AtoB"], model.discriminator, model.loss, model.optimizer_g, model.optimizer_d)


def test_generator_objective_is_gan_plus_weighted_cycle_and_identity(tmp_path):
    model = make(tmp_path)
    loss, logs = model.generator_loss(images())
    expected = logs["loss/g_gan"] + 10 * logs["loss/g_cycle"] + 0.5 * 10 * logs["loss/g_identity"]
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    loss, logs = make(tmp_path, "model.lambda_identity=0").generator_loss(images())
    assert "loss/g_identity" not in logs


def test_identity_with_unequal_channels_fails_at_start(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    tiny = [o for o in TINY if "translation_success" not in o] + ["~metrics.evaluators.fcn_score"]
    cfg = compose_config("train", ["experiment=cyclegan_labels2fashion", *tiny, "max_g_steps=1",
                                   "model.lambda_identity=0.5"], tmp_path / "run")
    with pytest.raises(ValueError, match="C_A=3 and C_B=1; set model.lambda_identity=0"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_discriminator_steps_draw_fakes_from_the_pools(tmp_path):
    model = make(tmp_path, "model.pool_size=3")
    for step in range(3):
        model.discriminator_loss(images(seed=step))
    assert len(model.pools["A"]) == len(model.pools["B"]) == 3  # filled with generated images, capped at 3
    no_pool = make(tmp_path, "model.pool_size=0")
    no_pool.discriminator_loss(images())
    assert len(no_pool.pools["A"]) == 0


def test_fixed_grid_rows(tmp_path):
    model = make(tmp_path)
    batch = images(3)
    model.fixed_batch = batch
    grid = model.generate_fixed()
    assert grid.shape == (18, 3, 32, 32) and model.sample_grid_nrow == 3
    fake_b = model.translate(batch["A"], "AtoB")
    assert torch.equal(grid[:3], batch["A"].expand(-1, 3, -1, -1))
    assert torch.equal(grid[3:6], fake_b.expand(-1, 3, -1, -1))
    assert torch.equal(grid[6:9], model.translate(fake_b, "BtoA").expand(-1, 3, -1, -1))
    assert torch.equal(grid[9:12], batch["B"].expand(-1, 3, -1, -1))
    with pytest.raises(ValueError, match="direction"):
        model.translate(batch["A"], "AtoC")


def run_to(tmp_path, name: str, g_steps: int, *extra: str):
    out = tmp_path / name
    cfg = compose_config("train", ["experiment=cyclegan_sneaker2boot", *TINY, f"max_g_steps={g_steps}",
                                   "model.pool_size=3", "trainer.deterministic=true", "trainer.accelerator=cpu",
                                   "+trainer.limit_train_batches=4", "callbacks.model_checkpoint.every_n_g_steps=100",
                                   "metrics.evaluators.paired=null", "seed=3", *extra], out)
    train(cfg)
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)


def test_resume_is_bit_exact_with_image_pools(data_dir, tmp_path, monkeypatch):
    """6 steps straight == 3 steps, resume, 3 more: weights, Adam moments and both pools (crosses an epoch)."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    straight = run_to(tmp_path, "straight", 6)
    first = run_to(tmp_path, "first", 3)
    assert first["gan_lightning"]["image_pools"]["A"]["images"].shape[0] == 3
    resumed = run_to(tmp_path, "resumed", 6, f"ckpt_path={tmp_path}/first/checkpoints/last.ckpt")
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    for opt_a, opt_b in zip(straight["optimizer_states"], resumed["optimizer_states"]):
        for state_a, state_b in zip(opt_a["state"].values(), opt_b["state"].values()):
            assert torch.equal(state_a["exp_avg"], state_b["exp_avg"])
    for domain in ("A", "B"):
        assert torch.equal(straight["gan_lightning"]["image_pools"][domain]["images"],
                           resumed["gan_lightning"]["image_pools"][domain]["images"])
    assert torch.equal(straight["gan_lightning"]["fixed_batch"]["A"], resumed["gan_lightning"]["fixed_batch"]["A"])


LEARN_G_STEPS = 100
BOOT = 9


def test_cyclegan_turns_sneakers_into_boots_on_real_data(data_dir, tmp_path, monkeypatch):
    """The domain classifier calls more translated test sneakers ankle boots after a short CPU run."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    clf = tmp_path / "fashion_mnist_28.pt"
    clf_cfg = compose_config("train_classifier", ["data=fashion_mnist", "max_steps=150", "batch_size=64",
                                                  "data.num_workers=0", f"output={clf}"], tmp_path / "clf")
    with pytest.warns(UserWarning, match="< target"):
        train_classifier(clf_cfg)

    cfg = compose_config("train", [
        "experiment=cyclegan_sneaker2boot", f"max_g_steps={LEARN_G_STEPS}", "logger=csv", "~callbacks.progress_bar",
        "model.generator.modules.AtoB.base_width=16", "model.generator.modules.AtoB.n_blocks=3",
        "model.discriminator.modules.A.base_width=16", "data.num_workers=0", "data.batch_size=8",
        "data.max_train=1000", "data.max_test=200", "callbacks.sample_grid.every_n_g_steps=1000",
        f"metrics.evaluators.translation_success.classifier_path={clf}",
        f"metrics.every_n_g_steps={LEARN_G_STEPS}",
    ], tmp_path / "run")
    assert cfg.metrics.evaluators.translation_success.target_class == BOOT
    metrics = train(cfg)
    rows = list(csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")))
    success = {int(float(r["trainer/g_step"])): float(r["metrics/translation_success"])
               for r in rows if r.get("metrics/translation_success")}
    print(f"share of G(sneaker) classified as ankle boot, by g_step: {success}")
    assert sorted(success) == [0, LEARN_G_STEPS]
    assert success[LEARN_G_STEPS] > success[0] + 0.3
    assert metrics["metrics/translation_success"] == pytest.approx(success[LEARN_G_STEPS])
