"""`python -m gan_lightning.sample ckpt_path=... input_dir=... output_dir=...` for Pix2Pix and CycleGAN."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning import PROJECT_ROOT
from gan_lightning.checkpoint import load_module
from gan_lightning.data.translation import PairTransform
from gan_lightning.train import train
from gan_lightning.utils.images import to_uint8
from tests.hydra_utils import compose_config

TINY = ["data.num_workers=0", "data.batch_size=2", "data.max_train=8", "data.max_test=4", "logger=none",
        "~callbacks.progress_bar", "max_g_steps=1"]


@pytest.fixture
def cyclegan_ckpt(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = compose_config("train", ["experiment=cyclegan_sneaker2boot", *TINY, "~metrics.evaluators.translation_success",
                                   "model.generator.modules.AtoB.base_width=4", "model.generator.modules.AtoB.n_blocks=1",
                                   "model.discriminator.modules.A.base_width=4"], tmp_path / "run")
    train(cfg)
    return tmp_path / "run" / "checkpoints" / "last.ckpt"


def test_translate_folder_cli(cyclegan_ckpt, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a", 28), ("b", 40)):  # other sizes are resized to the run's 32
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(inputs / f"{name}.png")
    (inputs / "notes.txt").write_text("not an image")
    for direction in ("AtoB", "BtoA"):
        out = tmp_path / direction
        result = subprocess.run(
            [sys.executable, "-m", "gan_lightning.sample", f"ckpt_path={cyclegan_ckpt}", f"input_dir={inputs}",
             f"output_dir={out}", f"direction={direction}"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "wrote 2 translated images" in result.stdout
        assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
        assert Image.open(out / "b.png").size == (32, 32)

    # The files are the model's translations of the inputs prepared as the test split is (grey, 32x32).
    model = load_module(str(cyclegan_ckpt))
    x = PairTransform(32, 32, jitter=False, flip=False)(Image.open(inputs / "a.png"), "L", False, None)
    expected = to_uint8(model.translate(x[None], "AtoB"))[0]
    written = torch.from_numpy(np.array(Image.open(tmp_path / "AtoB" / "a.png"))).permute(2, 0, 1)
    assert torch.equal(written, expected)


def test_translate_errors(cyclegan_ckpt, tmp_path):
    from gan_lightning.sample import translate_folder

    model = load_module(str(cyclegan_ckpt))
    with pytest.raises(FileNotFoundError, match="holds no images"):
        translate_folder(model, str(tmp_path / "missing"), str(tmp_path / "out"))
    (tmp_path / "img").mkdir()
    Image.new("L", (32, 32)).save(tmp_path / "img" / "x.png")
    with pytest.raises(ValueError, match="direction"):
        translate_folder(model, str(tmp_path / "img"), str(tmp_path / "out"), direction="sideways")
