"""Shared fixtures: real MNIST / Fashion-MNIST in a writable folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# No test touches the network: a missing Inception weights file is "downloaded" from this unreachable local URL
# (the configs read the variable; subprocesses inherit it), which fails as offline machines do.
os.environ["GAN_INCEPTION_WEIGHTS_URL"] = "file:///nonexistent/gan-lightning-tests/weights-inception-2015-12-05-6726825d.pth"

# <repo>/../shared/data (the repo is /work/main, shared data /work/shared/data), then the absolute path.
_SHARED_CANDIDATES = (Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data"))
DATASETS = ("MNIST", "FashionMNIST")


def find_shared_data() -> Path | None:
    """The read-only shared data folder holding MNIST and Fashion-MNIST ``raw/*.gz``, or None."""
    for cand in _SHARED_CANDIDATES:
        if all(list((cand / name / "raw").glob("*.gz")) for name in DATASETS):
            return cand
    return None


def _no_data(msg: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(msg)  # CI must not silently skip the real-data tests
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The read-only shared data folder itself (never write into it)."""
    found = find_shared_data()
    if found is None:
        _no_data(f"no shared MNIST data in any of {[str(c) for c in _SHARED_CANDIDATES]}")
    return found


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable torchvision root with MNIST/raw and FashionMNIST/raw: $GAN_DATA_DIR when it is writable, else a
    copy of its archives (or of the shared data's): tests unpack into this folder, and a read-only one (the shared
    data) must stay untouched even for root, who ignores the permission bits."""
    from gan_lightning.data.base import is_writable

    env = os.environ.get("GAN_DATA_DIR")
    if env and is_writable(env):
        return Path(env)
    src = Path(env) if env else find_shared_data()
    if src is None:
        _no_data(f"set GAN_DATA_DIR; no shared MNIST data in any of {[str(c) for c in _SHARED_CANDIDATES]}")
    dst = tmp_path_factory.mktemp("data")
    for name in DATASETS:
        (dst / name / "raw").mkdir(parents=True)
        for gz in (src / name / "raw").glob("*.gz"):
            shutil.copyfile(gz, dst / name / "raw" / gz.name)  # copyfile: the copy must stay writable
    return dst


@pytest.fixture(scope="session")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Untrained domain classifiers under the names metrics.classifier_path looks for.

    Enough for mechanics (fast_dev_run); quality tests train a real one.
    """
    import torch

    from gan_lightning.metrics.domain import save_classifier
    from gan_lightning.nets.classifier import DomainClassifier

    out = tmp_path_factory.mktemp("classifiers")
    torch.manual_seed(0)
    for dataset in ("mnist", "fashion_mnist"):
        for size in (28, 32):
            model = DomainClassifier(channels=1, num_classes=10, image_size=size, width=8, feature_dim=16)
            save_classifier(model, out / f"{dataset}_{size}.pt", {"dataset": dataset, "image_size": size})
    return out


@pytest.fixture(scope="session")
def scorer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained labels2fashion FCN-score segmenter under the name the metrics look for (mechanics only)."""
    import torch

    from gan_lightning.metrics.fcn_score import save_scorer
    from gan_lightning.nets.fcn import FCNSegmenter

    out = tmp_path_factory.mktemp("scorers")
    torch.manual_seed(0)
    save_scorer(FCNSegmenter(in_channels=1, num_classes=11, width=4), out / "labels2fashion_32.pt",
                {"dataset": "labels2fashion", "image_size": 32, "label_decoder": "labels2fashion"})
    return out
