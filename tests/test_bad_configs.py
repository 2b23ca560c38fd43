"""Invalid configurations fail at start-up, before any training step, with one line naming the key and what is
allowed. One table, one row per case; each row goes through what `python -m gan_lightning.train` runs: the
config-group check of the command line, Hydra's composition, then `train`."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

from gan_lightning import PROJECT_ROOT
from gan_lightning.train import train
from gan_lightning.utils.overrides import ConfigGroupError, check_group_overrides
from tests.hydra_utils import compose_config

TINY = ["data.num_workers=0", "data.batch_size=8", "logger=none", "metrics=none", "~callbacks.progress_bar",
        "max_g_steps=1"]
PIX2PIX = ["experiment=pix2pix_edges2fashion", "data.max_train=8", "data.max_test=4"]

# (case, overrides, exception, message pattern); {name} is the path the fixture `name` returns.
CASES = [
    ("zero lr", ["model.optimizer_g.lr=0"], ValueError, r"model\.optimizer_g\.lr must be > 0, got 0"),
    ("negative lr", ["model.optimizer_d.lr=-1e-4"], ValueError, r"model\.optimizer_d\.lr must be > 0"),
    ("baseline lr", ["experiment=supervised_conv_mnist_100", "model.optimizer.lr=0"], ValueError,
     r"model\.optimizer\.lr must be > 0"),
    ("n_critic < 1", ["model.n_critic=0"], ValueError, r"data\.batches_per_step=0 .*\(model\.n_critic\) and must be >= 1"),
    ("U-Net depth", ["model=pix2pix", "data=aligned", "data.data_dir={aligned_dir}", "data.image_size=48"], ValueError,
     r"^data\.image_size=48 \(model\.generator\.image_size\) is an image size the U-Net depth cannot take: .*power of two >= 16"),
    ("U-Net depth, num_downs", [*PIX2PIX, "+model.generator.num_downs=6"], ValueError,
     r"^data\.image_size=32 \(model\.generator\.image_size\) .* model\.generator\.num_downs=6 it must be a multiple of 2\*\*6=64"),
    ("Fashion-MNIST task size", [*PIX2PIX, "data.image_size=48"], ValueError,
     r"^data\.image_size=48 is invalid: the Fashion-MNIST tasks are built at 32 or 64 pixels"),
    ("receptive field", [*PIX2PIX, "model.discriminator.receptive_field=50"], ValueError,
     r"model\.discriminator\.receptive_field.*1, 16, 70, 286"),
    ("num_labeled too large", ["experiment=sgan_conv_mnist_100", "data.num_labeled=70000"], ValueError, r"data\.num_labeled=70000"),
    ("num_labeled not balanced", ["experiment=sgan_conv_mnist_100", "data.num_labeled=105"], ValueError,
     r"data\.num_labeled=105 is invalid: use a positive multiple of the 10 classes"),
    ("unknown model", ["model=stylegan"], ConfigGroupError,
     r"^model=stylegan is not a config of group 'model'; allowed: acgan, catgan, catgan_mlp, catgan_mlp_wn, cgan, .*dcgan, gan, gan_paper, pix2pix"),
    ("unknown loss", ["loss=wasserstein"], ConfigGroupError,
     r"^loss=wasserstein is not a config of group 'loss'; allowed: hinge, lsgan, minimax, non_saturating, non_saturating_smoothed, wgan_gp$"),
    ("Pix2Pix without WGAN-GP's penalty", [*PIX2PIX, "loss=wgan_gp"], ValueError,
     r"^loss=wgan_gp is not supported by Pix2Pix \(allowed: loss=minimax, loss=non_saturating, loss=lsgan, "
     r"loss=hinge\); its D loss does not add WGAN-GP's gradient penalty\.$"),
    ("SGAN with a non-BCE loss", ["experiment=sgan_conv_mnist_100", "loss=hinge"], ValueError,
     r"^loss=hinge is not supported by SemiSupervisedGAN \(allowed: loss=non_saturating, loss=minimax\)"),
    ("unknown dataset", ["data=celeba"], ConfigGroupError,
     r"^data=celeba is not a config of group 'data'; allowed: .*fashion_mnist, .*mnist"),
    ("unknown experiment", ["experiment=dcgan_lsun"], ConfigGroupError,
     r"^experiment=dcgan_lsun is not a config of group 'experiment'; allowed: .*dcgan_celeba, .*dcgan_mnist"),
    ("unknown trainer", ["trainer=tpu"], ConfigGroupError,
     r"^trainer=tpu is not a config of group 'trainer'; allowed: cpu, ddp, ddp_cpu, debug, default, gpu$"),
    ("unknown metrics", ["metrics=lpips"], ConfigGroupError, r"^metrics=lpips is not a config of group 'metrics'; allowed: .*none"),
    ("unknown added group", ["+hparams_search=grid"], ConfigGroupError,
     r"^\+hparams_search=grid is not a config of group 'hparams_search'; allowed: optuna$"),
    ("missing checkpoint", ["ckpt_path=/nonexistent/last.ckpt"], FileNotFoundError, r"ckpt_path='/nonexistent/last\.ckpt'"),
    ("checkpoint of another model", ["experiment=cgan_mnist", "max_g_steps=2", "ckpt_path={dcgan_ckpt}"], ValueError,
     r"^ckpt_path=\S+last\.ckpt holds a GAN checkpoint \(gan_lightning\.models\.gan\.GAN\), but this run builds "
     r"ConditionalGAN \(model\._target_=gan_lightning\.models\.cgan\.ConditionalGAN\)"),
    ("bad interpolation", ["model.scheduler_interval=batch"], ValueError, r"model\.scheduler_interval must be 'g_step' or 'epoch'"),
    ("bad norm", [*PIX2PIX, "model.generator.norm=layer"], ValueError, r"norm must be one of \('batch', 'instance'\)"),
    ("image folder smaller than one batch", ["data=image_folder", "data.data_dir={small_image_dir}"], ValueError,
     r"^data\.batch_size=8 is more than the 5 training images of image_folder_\w+ \(\S+\): with data\.drop_last=true "
     r"no training step would run\. Fix: set data\.batch_size=5 or less"),
    ("cGAN on unlabeled images", ["model=cgan", "data=image_folder", "data.data_dir={image_dir}"], ValueError,
     r"^ConditionalGAN conditions G and D on class labels, but data image_folder_\w+ has no class labels: use a "
     r"labeled dataset \(data=mnist"),
    ("SGAN on unlabeled images", ["model=sgan", "data=image_folder", "data.data_dir={image_dir}"], ValueError,
     r"^SemiSupervisedGAN trains D as a classifier on labeled images, but data image_folder_\w+ has no class labels: "
     r"use data=mnist_semi"),
]


@pytest.fixture(scope="module")
def dcgan_ckpt(data_dir, tmp_path_factory) -> str:
    """The last.ckpt of a 1-step DCGAN run (for the checkpoint-of-another-model row)."""
    out = tmp_path_factory.mktemp("dcgan")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_DATA_DIR", str(data_dir))
        train(compose_config("train", [*TINY, "model.generator.base_width=8", "model.discriminator.base_width=8"], out))
    ckpt = out / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True)["gan_lightning"]["g_step"] == 1
    return str(ckpt)


@pytest.fixture(scope="module")
def aligned_dir(tmp_path_factory) -> str:
    """A tiny pix2pix-format folder (A|B side by side, 96x48) that takes any image size."""
    from PIL import Image

    root = tmp_path_factory.mktemp("aligned")
    for split in ("train", "test"):
        (root / split).mkdir()
        for i in range(2):
            Image.new("RGB", (96, 48), (40 * i, 80, 120)).save(root / split / f"{i}.png")
    return str(root)


def _image_folder(root, n: int) -> str:
    from PIL import Image

    root.mkdir()
    for i in range(n):
        Image.new("RGB", (64, 64), (20 * i, 80, 120)).save(root / f"{i}.png")
    return str(root)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> str:
    """Ten unlabeled 64x64 PNGs (one batch of TINY's 8)."""
    return _image_folder(tmp_path_factory.mktemp("images") / "pngs", 10)


@pytest.fixture(scope="module")
def small_image_dir(tmp_path_factory) -> str:
    """Five unlabeled PNGs: fewer than one batch of 8."""
    return _image_folder(tmp_path_factory.mktemp("images") / "few", 5)


@pytest.mark.parametrize("case,overrides,error,pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_config_fails_at_start_up(case, overrides, error, pattern, data_dir, tmp_path, monkeypatch, request):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    overrides = [re.sub(r"\{(\w+)\}", lambda m: request.getfixturevalue(m[1]), o) for o in overrides]
    with pytest.raises(error, match=pattern) as info:
        check_group_overrides([*TINY, *overrides])
        train(compose_config("train", [*TINY, *overrides], tmp_path / "run"))
    assert "\n" not in str(info.value).strip()  # one line
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained


@pytest.mark.parametrize("args", [
    ["model=gan", "loss=hinge", "data=fashion_mnist", "trainer=ddp_cpu", "experiment=cgan_mnist", "+hparams_search=optuna"],
    ["-m", "model=gan,dcgan", "loss=glob(*)", "data=choice(mnist,fashion_mnist)", "seed=range(3)"],
    ["data.image_size=64", "model.generator.base_width=8", "~callbacks.progress_bar", "+callbacks.x._target_=a.B"],
    ["hydra/launcher=basic", "hydra.run.dir=out", "~experiment", "experiment=null", "paths=default"],
    ["--config-dir", "/elsewhere", "model=only_there"],  # options may come from another directory: Hydra decides
    ["--cfg", "job", "-cn", "train", "model=[gan,nope]", "model=${oc.env:X}", "model=choice(gan,null)"],  # Hydra's
])
def test_valid_overrides_pass_the_group_check(args):
    check_group_overrides(args)


def test_group_check_reads_every_item_of_a_multirun_list():
    with pytest.raises(ConfigGroupError, match=r"^model=nope is not a config of group 'model'"):
        check_group_overrides(["-m", "model=gan,nope"])
    check_group_overrides(["model=gan,nope"])  # not a multirun: Hydra reports the ambiguous value


@pytest.mark.parametrize("args,line", [
    (["-m", "data=choice(mnist,nope)"], "data=nope is not a config of group 'data'"),
    (["-m", "loss=tag(a,choice(hinge,nope))"], "loss=nope is not a config of group 'loss'"),
    (["~model=nope"], "~model=nope is not a config of group 'model'"),
    (["++loss=nope"], "++loss=nope is not a config of group 'loss'"),
    (["model@gan_model=nope"], "model=nope is not a config of group 'model'"),
])
def test_group_check_reads_overrides_as_hydra_parses_them(args, line):
    with pytest.raises(ConfigGroupError, match=rf"^{re.escape(line)}; allowed: "):
        check_group_overrides(args)


def run_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_lightning.train", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("args,line", [
    (["model=nope"], "error: model=nope is not a config of group 'model'; allowed: acgan, catgan, catgan_mlp, catgan_mlp_wn, cgan, "),
    (["-m", "loss=hinge,nope"], "error: loss=nope is not a config of group 'loss'; allowed: hinge, lsgan, "),
])
def test_cli_unknown_group_option_is_one_line(args, line, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(line) and result.stderr.count("\n") == 1 and result.stdout == ""
    assert not list(tmp_path.iterdir())  # stopped before Hydra made a run directory


def test_cli_missing_inception_weights_is_one_line(data_dir, tmp_path):
    from gan_lightning.metrics.generative import INCEPTION_WEIGHTS

    weights = tmp_path / "nowhere" / INCEPTION_WEIGHTS
    result = run_cli(f"hydra.run.dir={tmp_path / 'run'}", "logger=none", "metrics.feature_extractor=inception",
                     f"metrics.inception_weights={weights}", f"paths.data_dir={data_dir}", cwd=PROJECT_ROOT)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Error executing job" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr
    assert str(weights) in error_lines[0] and "metrics.inception_weights" in error_lines[0]
    assert "github.com/toshas/torch-fidelity" in error_lines[0]
    assert not (tmp_path / "run" / "checkpoints").exists()
