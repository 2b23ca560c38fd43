"""`pip install .` gives a framework that starts: the wheel ships conf/ and the console scripts, and an installed
package writes outputs/, data/ and .cache/ under the working directory, not into site-packages."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

import gan_lightning
from gan_lightning import checkout_root

REPO = Path(__file__).resolve().parents[1]
# What the wheel is built from; a copy keeps build/ and *.egg-info out of the checkout.
SOURCES = ("pyproject.toml", "README.md", "gan_lightning", "conf")
SCRIPTS = ("gan-train", "gan-sample", "gan-eval", "gan-compare", "gan-train-classifier", "gan-train-scorer")
TIMEOUT = 300


def test_checkout_root_needs_conf_and_pyproject(tmp_path):
    package = tmp_path / "gan_lightning"
    package.mkdir()
    assert checkout_root(package) is None  # site-packages: neither
    (tmp_path / "conf").mkdir()
    assert checkout_root(package) is None  # a stray conf/ beside an installed package is no checkout
    (tmp_path / "pyproject.toml").touch()
    assert checkout_root(package) == tmp_path


def test_project_root_is_the_checkout_here_and_the_cwd_when_installed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert OmegaConf.create({"r": "${project_root:}"}).r == str(REPO)
    monkeypatch.setattr(gan_lightning, "CHECKOUT_ROOT", None)
    assert OmegaConf.create({"r": "${project_root:}"}).r == str(tmp_path)


def test_config_dir_is_the_checkouts_conf():
    assert gan_lightning.CONFIG_DIR == REPO / "conf"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built offline (no index, no build isolation) from a copy of the checkout's sources."""
    assert int(version("setuptools").split(".")[0]) >= 77, "the build needs setuptools>=77: pip install -e '.[dev]'"
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-q", "-w", str(out), str(src)], cwd=out)
    (whl,) = out.glob("gan_lightning-*.whl")
    return whl


def test_wheel_holds_every_module_config_and_script(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = z.read(entry_points).decode()
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "gan_lightning").rglob("*.py")}
    configs = {"gan_lightning/" + p.relative_to(REPO).as_posix() for p in (REPO / "conf").rglob("*.yaml")}
    assert len(configs) > 50 and modules | configs <= names, sorted((modules | configs) - names)
    for script in SCRIPTS:
        assert f"\n{script} = gan_lightning." in scripts, f"{script} missing from {scripts}"


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding only the wheel; torch & co. come from this environment's site-packages through a .pth
    file, whose path lines do not run this environment's own .pth files (the editable finder of the checkout)."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys._base_executable, "-m", "venv", "--clear", "--without-pip", str(venv)], cwd=venv)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    new_site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv).strip()
    parent_sites = dict.fromkeys([*site.getsitepackages(), sysconfig.get_path("purelib")])
    Path(new_site, "_test_env.pth").write_text("".join(f"{p}\n" for p in parent_sites))
    # --force-reinstall: this environment's (editable) gan_lightning of the same version is visible to pip;
    # pip leaves it alone, as it lies outside the new venv.
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall",
         "--disable-pip-version-check", "-q", str(wheel)], cwd=venv)
    return python.parent


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that could import the checkout or set the paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GAN_", "PYTHON"))}
    return {**env, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1", **extra}


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_installed_package_is_not_the_checkout(installed, tmp_path):
    out = run([str(installed / "python"), "-c", "import gan_lightning as g; print(g.__file__); print(g.CONFIG_DIR)"],
              cwd=tmp_path, env=clean_env())
    module, config_dir = (Path(line) for line in out.split())
    assert module.is_relative_to(installed.parent) and not module.is_relative_to(REPO), module
    assert config_dir == module.parent / "conf" and (config_dir / "train.yaml").is_file()


def test_installed_config_comes_from_the_package_and_points_at_the_cwd(installed, tmp_path):
    cwd, cache = tmp_path / "work", tmp_path / "cache"
    cwd.mkdir()
    cfg = yaml.safe_load(run([str(installed / "gan-train"), "--cfg", "all", "--resolve"], cwd=cwd,
                             env=clean_env(GAN_CACHE_DIR=str(cache))))
    (main_source,) = [s["path"] for s in cfg["hydra"]["runtime"]["config_sources"] if s["provider"] == "main"]
    assert Path(main_source).is_relative_to(installed.parent), main_source
    assert cfg["paths"]["root_dir"] == str(cwd)
    assert cfg["paths"]["data_dir"] == str(cwd / "data")
    assert cfg["paths"]["cache_dir"] == str(cache)  # the environment variables keep precedence
    assert Path(cfg["hydra"]["run"]["dir"]).parent.parent == cwd / "outputs"
    assert Path(cfg["hydra"]["sweep"]["dir"]).is_relative_to(cwd / "outputs" / "multirun")
    assert not cfg["hydra"]["job"]["chdir"]


@pytest.mark.parametrize("script, file", [("gan-train-classifier", ".cache/classifiers/mnist_28.pt"),
                                          ("gan-train-scorer", ".cache/scorers/labels2fashion_32.pt")])
def test_installed_trainers_write_under_the_cwd(installed, script, file, tmp_path):
    cfg = yaml.safe_load(run([str(installed / script), "--cfg", "job", "--resolve"], cwd=tmp_path, env=clean_env()))
    assert cfg["output"] == str(tmp_path / file)


@pytest.mark.parametrize("script, expected", [("gan-eval", "kid_subsets"), ("gan-compare", "sweep_dir")])
def test_installed_console_script_starts(installed, script, expected, tmp_path):
    assert expected in run([str(installed / script), "--help"], cwd=tmp_path, env=clean_env())


def test_installed_trains_and_samples_under_the_cwd(installed, data_dir, tmp_path):
    """Two generator steps on real MNIST, then a grid from the checkpoint, all from an unrelated directory."""
    env = clean_env(GAN_DATA_DIR=str(data_dir))
    run([str(installed / "gan-train"), "experiment=dcgan_mnist", "max_g_steps=2", "metrics=none", "logger=csv",
         "data.num_workers=0", "data.batch_size=8", "model.generator.base_width=8",
         "model.discriminator.base_width=8", "~callbacks.progress_bar"], cwd=tmp_path, env=env)
    (ckpt,) = tmp_path.glob("outputs/*/*/checkpoints/last.ckpt")
    run([str(installed / "gan-sample"), f"ckpt_path={ckpt}", "num_samples=4", "nrow=2", "output=grid.png"],
        cwd=tmp_path, env=env)
    assert (tmp_path / "grid.png").stat().st_size > 0
