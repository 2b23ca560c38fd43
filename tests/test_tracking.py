"""Weights & Biases in offline mode: grouping and naming, the resolved config, the g_step axis, and a resume that
continues the same run."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from gan_lightning.train import train
from tests.hydra_utils import compose_config
from tests.test_train import TINY_DCGAN

WANDB_TINY = [o for o in TINY_DCGAN if o != "logger=none"] + [
    "logger=wandb", "metrics=none", "trainer.log_every_n_steps=1", "callbacks.sample_grid.every_n_g_steps=1",
    "+callbacks.wandb_probe._target_=tests.test_tracking.WandbProbe",
]


class WandbProbe(pl.Callback):
    """Records what reaches the live W&B run (offline runs write no readable config file)."""

    runs: list[dict] = []

    def on_fit_start(self, trainer, pl_module) -> None:  # before the first grid, drawn in on_train_start
        run = trainer.logger.experiment
        record = {"id": run.id, "name": run.name, "group": run.group, "logged": []}
        log = run.log

        def spy(data, *args, **kwargs):
            record["logged"].append(dict(data))
            return log(data, *args, **kwargs)

        run.log = spy
        WandbProbe.runs.append(record)

    def on_train_end(self, trainer, pl_module) -> None:
        WandbProbe.runs[-1]["config"] = dict(trainer.logger.experiment.config)


def test_wandb_offline_run_is_named_grouped_and_resumes_in_place(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("WANDB_MODE", "offline")
    WandbProbe.runs.clear()
    out = tmp_path / "run"
    train(compose_config("train", ["experiment=dcgan_mnist", "max_g_steps=2", "loss=lsgan", *WANDB_TINY], out))
    first = WandbProbe.runs[-1]
    assert "loss=lsgan" in first["name"] and first["group"] == "dcgan_mnist"
    assert first["config"]["model"]["optimizer_g"]["lr"] == 2.0e-4  # the resolved config, interpolations filled in
    assert first["config"]["model"]["generator"]["image_size"] == 32
    grids = [d for d in first["logged"] if "samples" in d]
    assert [d["trainer/g_step"] for d in grids] == [0, 1, 2]  # one grid per generator step, on the g_step axis
    assert all("trainer/g_step" in d for d in first["logged"] if "loss/d" in d)

    ckpt = out / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True)["gan_lightning"]["wandb_run_id"] == first["id"]
    train(compose_config("train", ["experiment=dcgan_mnist", "max_g_steps=4", "loss=lsgan", f"ckpt_path={ckpt}",
                                   *WANDB_TINY], out))
    assert WandbProbe.runs[-1]["id"] == first["id"]
    runs = sorted((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and {r.name.rsplit("-", 1)[-1] for r in runs} == {first["id"]}  # `wandb sync` merges them
    assert torch.load(ckpt, weights_only=True)["gan_lightning"]["g_step"] == 4


def test_wandb_run_finishes_even_when_training_fails(data_dir, tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_config("train", ["experiment=dcgan_mnist", "max_g_steps=2", *WANDB_TINY,
                                   "+callbacks.boom._target_=tests.test_tracking.FailAtStart"], tmp_path)
    try:
        train(cfg)
    except RuntimeError as err:
        assert "boom" in str(err)
    else:
        raise AssertionError("the failing callback did not stop training")
    assert wandb.run is None  # finished in the finally: the next job of a sweep gets a fresh run


class FailAtStart(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        raise RuntimeError("boom")
