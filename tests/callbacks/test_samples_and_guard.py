"""Sample grids, the NaN guard and generator-step checkpoints inside a real Trainer."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.callbacks import GeneratorStepCheckpoint, NaNGuard, NonFiniteLossError, SampleGridCallback
from tests.models.test_base import make_model


def loader(num_batches: int, batch_size: int = 4) -> DataLoader:
    n = num_batches * batch_size
    data = TensorDataset(torch.rand(n, 3, 4, 4) * 2 - 1, torch.zeros(n, dtype=torch.long))
    return DataLoader(data, batch_size=batch_size)


def fit(model, callbacks, num_batches: int, tmp_path) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, callbacks=callbacks, default_root_dir=tmp_path,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(model, loader(num_batches))
    return trainer


def test_sample_grid_cadence_png_and_gif(tmp_path):
    model = make_model(num_fixed_samples=6)
    grids = SampleGridCallback(str(tmp_path / "samples"), every_n_g_steps=2, nrow=3)
    fit(model, [grids], num_batches=5, tmp_path=tmp_path)
    names = sorted(p.name for p in (tmp_path / "samples").glob("*.png"))
    # step 0 (untrained reference), every 2 steps, and the end of training.
    assert names == [f"g_step={s:07d}.png" for s in (0, 2, 4, 5)]
    grid = Image.open(tmp_path / "samples" / names[-1])
    assert grid.size == (3 * 4 + 4 * 2, 2 * 4 + 3 * 2)  # 3 x 2 tiles of 4 px, 2 px padding
    gif = Image.open(tmp_path / "samples" / "progress.gif")
    assert gif.n_frames == 4


def test_checkpoint_every_n_generator_steps(tmp_path):
    model = make_model(n_critic=1)
    ckpt = GeneratorStepCheckpoint(dirpath=tmp_path / "ckpt", filename="g_step={g_step:03d}",
                                   auto_insert_metric_name=False, every_n_g_steps=2, save_last=True, save_top_k=-1)
    fit(model, [ckpt], num_batches=5, tmp_path=tmp_path)
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["g_step=002.ckpt", "g_step=004.ckpt", "last.ckpt"]
    last = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert last["gan_lightning"]["g_step"] == 5  # written again at the end of training


class ExplodingModel(type(make_model())):
    """Loss becomes NaN from generator step `at` on."""

    explode_at = 3

    def generator_loss(self, batch):
        loss, logs = super().generator_loss(batch)
        if self.g_step + 1 >= self.explode_at:
            loss = loss * float("nan")
        return loss, logs


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    model = make_model()
    model.__class__ = ExplodingModel
    ckpt = GeneratorStepCheckpoint(dirpath=tmp_path / "ckpt", every_n_g_steps=1, save_last=True, save_top_k=0)
    with pytest.raises(NonFiniteLossError, match=r"at generator step 3 \(now loss/g = nan\)") as info:
        fit(model, [NaNGuard(), ckpt], num_batches=6, tmp_path=tmp_path)
    assert "last.ckpt" in str(info.value)
    last = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert last["gan_lightning"]["g_step"] == 2
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())


def test_nan_guard_on_a_cadence_still_refuses_to_checkpoint_a_bad_step(tmp_path):
    """check_every_n_g_steps=4: no host read at step 3, but the checkpoint of step 3 reads the flag first."""
    model = make_model()
    model.__class__ = ExplodingModel
    ckpt = GeneratorStepCheckpoint(dirpath=tmp_path / "ckpt", every_n_g_steps=1, save_last=True, save_top_k=0)
    with pytest.raises(NonFiniteLossError, match=r"at generator step 3"):
        fit(model, [NaNGuard(check_every_n_g_steps=4), ckpt], num_batches=6, tmp_path=tmp_path)
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["gan_lightning"]["g_step"] == 2


def test_nan_guard_on_a_cadence_stops_at_its_next_read(tmp_path):
    model = make_model()
    model.__class__ = ExplodingModel
    with pytest.raises(NonFiniteLossError, match=r"between generator steps 1 and 4 \(now loss/d = nan, loss/g = nan"):
        fit(model, [NaNGuard(check_every_n_g_steps=4)], num_batches=6, tmp_path=tmp_path)
    assert model.g_step == 4  # stopped at the read, not at the end of the 6 batches
    with pytest.raises(ValueError, match=r"check_every_n_g_steps=0"):
        NaNGuard(check_every_n_g_steps=0)


def test_progress_bar_counts_generator_steps():
    from types import SimpleNamespace

    from gan_lightning.callbacks import GeneratorStepProgressBar

    bar = GeneratorStepProgressBar()
    trainer = SimpleNamespace(max_epochs=-1, max_steps=30, global_step=6, num_training_batches=100,
                              lightning_module=SimpleNamespace(optimizer_steps_per_g_step=3))
    bar._trainer = trainer
    assert bar.total_train_batches == 8  # (30 - 6) optimizer steps / 3 per batch
    trainer.max_epochs, trainer.max_steps = 5, -1
    assert bar.total_train_batches == 100
