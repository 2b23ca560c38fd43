"""The notebooks in notebooks/: stored without outputs, and each runs top to bottom on tiny checkpoints of real
MNIST / Fashion-MNIST runs, showing at least one image."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from gan_lightning import PROJECT_ROOT
from gan_lightning.train import train
from tests.hydra_utils import compose_config

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = {
    "01_dcgan_explore.ipynb": ["dcgan"],
    "02_cgan_class_grid.ipynb": ["cgan"],
    "03_translation.ipynb": ["pix2pix", "cyclegan"],
}
ENV_VARS = {"dcgan": "GAN_NOTEBOOK_DCGAN_CKPT", "cgan": "GAN_NOTEBOOK_CGAN_CKPT",
            "pix2pix": "GAN_NOTEBOOK_PIX2PIX_CKPT", "cyclegan": "GAN_NOTEBOOK_CYCLEGAN_CKPT"}

# Mechanics only: tiny nets, one or two generator steps, no metrics, small translation tasks.
COMMON = ["metrics=none", "logger=none", "~callbacks.progress_bar", "data.num_workers=0"]
RUNS = {
    "dcgan": ["experiment=dcgan_mnist", "max_g_steps=2", "data.batch_size=8",
              "model.generator.base_width=8", "model.discriminator.base_width=8"],
    "cgan": ["experiment=cgan_mnist", "max_g_steps=2", "data.batch_size=8",
             "model.generator.base_width=8", "model.discriminator.base_width=8"],
    "pix2pix": ["experiment=pix2pix_edges2fashion", "max_g_steps=1", "data.batch_size=4", "data.max_train=8",
                "data.max_test=8", "model.generator.base_width=4", "model.discriminator.base_width=4"],
    "cyclegan": ["experiment=cyclegan_sneaker2boot", "max_g_steps=1", "data.batch_size=2", "data.max_train=4",
                 "data.max_test=8", "model.generator.modules.AtoB.base_width=4",
                 "model.generator.modules.AtoB.n_blocks=1", "model.discriminator.modules.A.base_width=4"],
}
KERNEL_NAME = "gan-lightning-test"


def stored_notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_the_notebooks_exist():
    assert {p.name for p in stored_notebooks()} >= set(NOTEBOOKS)


@pytest.mark.parametrize("path", stored_notebooks(), ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip the outputs"
    assert "widgets" not in nb.metadata


@pytest.fixture(scope="module")
def checkpoints(data_dir, tmp_path_factory) -> dict[str, Path]:
    """last.ckpt of a tiny run of each model, on the real data."""
    root = tmp_path_factory.mktemp("notebook_runs")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_DATA_DIR", str(data_dir))
        mp.setenv("GAN_CACHE_DIR", str(root / "cache"))
        for name, overrides in RUNS.items():
            train(compose_config("train", [*overrides, *COMMON], root / name))
            out[name] = root / name / "checkpoints" / "last.ckpt"
            assert out[name].is_file()
    return out


@pytest.fixture(scope="module")
def kernel_spec_manager(tmp_path_factory) -> KernelSpecManager:
    """A kernel spec for the running interpreter, so the notebooks import this environment's gan_lightning
    whatever kernels the machine has installed."""
    kernels = tmp_path_factory.mktemp("kernels")
    (kernels / KERNEL_NAME).mkdir()
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "gan-lightning tests", "language": "python"}
    (kernels / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(kernels)])


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_and_shows_images(name, checkpoints, classifier_dir, kernel_spec_manager, tmp_path, monkeypatch):
    for key in NOTEBOOKS[name]:
        monkeypatch.setenv(ENV_VARS[key], str(checkpoints[key]))
    # 01 labels its exemplars with a domain classifier when it finds one (an untrained one here: mechanics only)
    monkeypatch.setenv("GAN_NOTEBOOK_CLASSIFIER", str(classifier_dir / "mnist_32.pt"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend turns figures into PNG outputs
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_spec_manager)
    NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()

    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [o for cell in nb.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, f"{name} displayed no image"


@pytest.mark.parametrize("name,key", [(n, k) for n, keys in sorted(NOTEBOOKS.items()) for k in keys])
def test_a_missing_checkpoint_names_its_variable(name, key, checkpoints, tmp_path, monkeypatch):
    """The cell that reads the checkpoint paths, run here (no kernel): a missing file says which variable to set."""
    for other in NOTEBOOKS[name]:
        monkeypatch.setenv(ENV_VARS[other], str(checkpoints[other]))
    monkeypatch.setenv(ENV_VARS[key], str(tmp_path / "nope.ckpt"))
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and ENV_VARS[key] in c.source]
    with pytest.raises(FileNotFoundError, match=f"nope.ckpt(.|\\n)*{ENV_VARS[key]}"):
        exec(compile(cell.source, name, "exec"), {})
