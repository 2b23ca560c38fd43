"""Mixed precision, gradient clipping after unscaling, channels_last and torch.compile, through real runs."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision

from gan_lightning.callbacks.performance import PerformanceOptions, trained_networks
from gan_lightning.models import build_model
from gan_lightning.train import train
from gan_lightning.utils.config import instantiate
from tests.hydra_utils import compose_config
from tests.test_ddp import FAMILIES
from tests.test_train import TINY, TINY_DCGAN

CLIP = 1e-2


class DtypeProbe(pl.Callback):
    """Records the dtype of every G and D output during training (autocast makes them bf16)."""

    dtypes: list[torch.dtype] = []

    def on_train_start(self, trainer, pl_module) -> None:
        for net in trained_networks(pl_module):
            net.register_forward_hook(lambda m, i, out: DtypeProbe.dtypes.append(
                (out if isinstance(out, torch.Tensor) else out[0]).dtype))


def dcgan_cfg(tmp_path, extra=()):
    return compose_config("train", ["experiment=dcgan_mnist", "max_g_steps=2", "metrics=none",
                                    "trainer.log_every_n_steps=1", *TINY_DCGAN, *extra], tmp_path)


@pytest.mark.parametrize("experiment", sorted(FAMILIES))
def test_bf16_mixed_trains_every_family_on_cpu(experiment, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    DtypeProbe.dtypes.clear()
    cfg = compose_config("train", [
        f"experiment={experiment}", "max_g_steps=2", "metrics=none", "trainer.log_every_n_steps=1", *TINY,
        *FAMILIES[experiment], "trainer.precision=bf16-mixed", "trainer.accelerator=cpu", "model.gradient_clip_val=1.0",
        "+callbacks.dtype_probe._target_=tests.models.test_precision.DtypeProbe"], tmp_path)
    metrics = train(cfg)
    assert metrics["trainer/g_step"] == 2
    assert all(math.isfinite(v) for k, v in metrics.items() if k.startswith("loss/"))
    assert torch.bfloat16 in DtypeProbe.dtypes
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_16_mixed_clips_unscaled_gradients(data_dir, tmp_path, monkeypatch):
    """With a GradScaler at scale 2**12, clipping before unscaling would leave norms of CLIP / 2**12 at the step."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = dcgan_cfg(tmp_path, [f"model.gradient_clip_val={CLIP}"])
    model = build_model(cfg)
    norms: list[float] = []

    class RecordNorms(pl.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            for opt in trainer.optimizers:
                opt.register_step_pre_hook(lambda o, args, kwargs: norms.append(float(torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(p.grad) for g in o.param_groups for p in g["params"]
                                 if p.grad is not None])))))

    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=10**6)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=4, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],
                         callbacks=[RecordNorms()], use_distributed_sampler=False)
    trainer.fit(model, datamodule=instantiate(cfg.data))
    assert norms, "no optimizer step ran"
    for norm in norms:
        assert abs(norm - CLIP) / CLIP < 1e-2, norms


def test_channels_last_and_compile(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = dcgan_cfg(tmp_path, ["callbacks.performance.channels_last=true", "callbacks.performance.compile=true",
                               "callbacks.performance.compile_backend=eager",
                               "+callbacks.keep._target_=tests.models.test_precision.KeepModule"])
    KeepModule.seen.clear()
    metrics = train(cfg)
    module = KeepModule.seen[-1]
    assert metrics["trainer/g_step"] == 2
    convs = conv_weights(module)
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert any(not w.is_contiguous() for w in convs)  # NHWC, not NCHW (a 1-channel kernel is both)
    assert all(net._compiled_call_impl is not None for net in trained_networks(module))
    keys = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert not any("_orig_mod" in k for k in keys)
    assert keys.keys() == build_model(cfg).state_dict().keys()


def conv_weights(module) -> list[torch.Tensor]:
    return [m.weight for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]


@pytest.mark.parametrize("experiment, nhwc", [("dcgan_mnist", True), ("sgan_conv_mnist_100", False),
                                              ("pix2pix_edges2fashion", False)])
def test_channels_last_auto_converts_only_the_nets_that_prefer_it(experiment, nhwc, data_dir, tmp_path, monkeypatch):
    """The default (auto): NHWC for DCGAN's G and D (measured faster), NCHW where a net does not declare it."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config("train", [f"experiment={experiment}", "max_g_steps=1", "metrics=none", *TINY,
                                   *FAMILIES[experiment], "+callbacks.keep._target_=tests.models.test_precision.KeepModule"],
                         tmp_path)
    assert cfg.callbacks.performance.channels_last == "auto"
    KeepModule.seen.clear()
    train(cfg)
    convs = [w for w in conv_weights(KeepModule.seen[-1]) if w.shape[1] > 1 and w.shape[2] > 1]  # NCHW != NHWC
    assert convs
    if nhwc:
        assert all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convs)
    else:
        assert all(w.is_contiguous() for w in convs)


def test_channels_last_rejects_other_values():
    with pytest.raises(ValueError, match="channels_last='yes'.*true, false or auto"):
        PerformanceOptions(channels_last="yes")


class KeepModule(pl.Callback):
    """Keeps the trained module for inspection."""

    seen: list = []

    def on_train_end(self, trainer, pl_module) -> None:
        KeepModule.seen.append(pl_module)
