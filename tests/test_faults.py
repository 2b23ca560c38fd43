"""Faults a run survives: SIGTERM (preemption) and Ctrl-C write a resumable last.ckpt; a write interrupted half-way
leaves the previous checkpoint loadable; every model family's checkpoint loads with weights_only=True."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gan_lightning import PROJECT_ROOT
from gan_lightning.checkpoint import load_module
from gan_lightning.train import train
from tests.hydra_utils import compose_config

TINY = ["data.num_workers=0", "data.batch_size=8", "metrics=none", "~callbacks.progress_bar",
        "model.generator.base_width=8", "model.discriminator.base_width=8"]


def start_run(out: Path, *extra: str) -> subprocess.Popen:
    # Many steps, a sample grid every step (the sign that training runs), no periodic checkpoints.
    args = [sys.executable, "-m", "gan_lightning.train", f"hydra.run.dir={out}", "max_g_steps=100000", "logger=none",
            "callbacks.sample_grid.every_n_g_steps=1", "callbacks.model_checkpoint.every_n_g_steps=0", *TINY, *extra]
    return subprocess.Popen(args, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def wait_for_step(out: Path, proc: subprocess.Popen, g_step: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not (out / "samples" / f"g_step={g_step:07d}.png").exists():
        if proc.poll() is not None:
            pytest.fail(f"training ended early:\n{proc.stdout.read()}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail("training did not reach the step in time")
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_a_checkpoint_that_resumes(sig, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    out = tmp_path / "run"
    proc = start_run(out)
    try:
        wait_for_step(out, proc, 3)
        proc.send_signal(sig)
        log = proc.communicate(timeout=120)[0]
    finally:
        proc.kill()  # never leave a training process behind
    ckpt = out / "checkpoints" / "last.ckpt"
    assert ckpt.is_file(), log
    saved = torch.load(ckpt, weights_only=True)["gan_lightning"]["g_step"]
    assert saved >= 3

    cfg = compose_config("train", [*TINY, "logger=none", f"max_g_steps={saved + 2}", f"ckpt_path={ckpt}"],
                         tmp_path / "resumed")
    train(cfg)
    assert torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["gan_lightning"]["g_step"] == saved + 2
    # the resumed run continued from the saved step: its first sample grid is the saved step + 1
    grids = sorted(p.name for p in (tmp_path / "resumed" / "samples").glob("g_step=*.png"))
    assert grids and grids[0] >= f"g_step={saved:07d}.png"


def test_interrupted_checkpoint_write_leaves_the_previous_file_loadable(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config("train", [*TINY, "logger=none", "max_g_steps=2", "callbacks.model_checkpoint.every_n_g_steps=1",
                                   "callbacks.model_checkpoint.save_top_k=0"], tmp_path)
    from fsspec.implementations.local import LocalFileOpener

    original, writes = LocalFileOpener.write, []

    def write_then_die(self, data):
        writes.append(len(data))
        if len(writes) == 2:  # the second checkpoint: half of it, then the process "dies"
            original(self, data[: len(data) // 2])
            raise OSError("simulated kill during the checkpoint write")
        return original(self, data)

    monkeypatch.setattr(LocalFileOpener, "write", write_then_die)
    with pytest.raises(OSError, match="simulated kill"):
        train(cfg)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["gan_lightning"]["g_step"] == 1  # the previous one, intact
    assert load_module(str(last)).g_step == 1
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # no half-written leftovers


FAMILIES = {
    "gan": ["experiment=gan_mnist"],
    "dcgan": [],
    "cgan": ["experiment=cgan_mnist"],
    "sgan": ["experiment=sgan_mnist_100"],
    "catgan": ["experiment=catgan_mnist_unsup"],
    "supervised_baseline": ["experiment=supervised_mnist_100"],
    "pix2pix": ["experiment=pix2pix_edges2fashion", "data.max_train=16", "data.max_test=4"],
    "cyclegan": ["experiment=cyclegan_sneaker2boot", "data.max_train=16", "data.max_test=4",
                 "model.generator.modules.AtoB.base_width=4", "model.generator.modules.AtoB.n_blocks=1",
                 "model.discriminator.modules.A.base_width=4"],
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_model_checkpoint_loads_weights_only(family, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    overrides = [o for o in TINY if not (family in ("cyclegan", "gan") and "base_width" in o)]
    if family == "supervised_baseline":
        overrides = [o for o in overrides if "generator" not in o]
    train(compose_config("train", [*FAMILIES[family], *overrides, "logger=none", "max_g_steps=1"], tmp_path))
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    raw = torch.load(ckpt, weights_only=True)  # plain tensors and containers only: no pickled objects
    assert raw["gan_lightning"]["g_step"] == 1
    model = load_module(str(ckpt))
    assert type(model).__name__ in raw["gan_lightning"]["config"]["model"]["_target_"]
