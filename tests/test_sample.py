"""`python -m gan_lightning.sample`: grids and latent interpolation from a real checkpoint."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from PIL import Image

from gan_lightning import PROJECT_ROOT
from gan_lightning.checkpoint import load_module
from gan_lightning.sample import interpolate_latents
from tests.test_train import run_to


@pytest.fixture(scope="module")
def checkpoint(data_dir, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_DATA_DIR", str(data_dir))
        return run_to(tmp_path_factory.mktemp("run"), "run", 2)


def test_load_module_restores_weights_and_step(checkpoint):
    model = load_module(str(checkpoint))
    saved = torch.load(checkpoint, weights_only=True)
    assert model.g_step == 2
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved["state_dict"][key]), key
    assert model.generate(3, torch.Generator().manual_seed(0)).shape == (3, 1, 32, 32)


def test_sample_cli_grid_and_interpolation(checkpoint, tmp_path):
    for mode, extra, size in (("grid", ["num_samples=12", "nrow=4"], (4 * 34 + 2, 3 * 34 + 2)),
                              ("interpolate", ["num_rows=2", "steps=5"], (5 * 34 + 2, 2 * 34 + 2))):
        out = tmp_path / f"{mode}.png"
        result = subprocess.run(
            [sys.executable, "-m", "gan_lightning.sample", f"ckpt_path={checkpoint}", f"mode={mode}",
             f"output={out}", *extra],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert Image.open(out).size == size  # 32 px tiles + 2 px padding
    assert not (tmp_path / "outputs").exists()


def test_sample_cli_missing_checkpoint(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gan_lightning.sample", f"ckpt_path={tmp_path}/missing.ckpt"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
    )
    assert result.returncode != 0
    assert "missing.ckpt" in result.stderr


def test_interpolation_endpoints_and_path():
    z0, z1 = torch.randn(3, 8), torch.randn(3, 8)
    for method in ("linear", "slerp"):
        path = interpolate_latents(z0, z1, 5, method)
        assert path.shape == (3, 5, 8)
        torch.testing.assert_close(path[:, 0], z0)
        torch.testing.assert_close(path[:, -1], z1)
    linear = interpolate_latents(z0, z1, 5, "linear")
    torch.testing.assert_close(linear[:, 2], (z0 + z1) / 2)
    with pytest.raises(ValueError, match="steps"):
        interpolate_latents(z0, z1, 1)
