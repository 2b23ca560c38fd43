"""Real-data quality: the README's default run learns MNIST (minutes on 2 CPU cores).

Also checks that the first run on a dataset trains the domain classifier to its target accuracy.
"""

from __future__ import annotations

import csv

import pytest
import torch

from gan_lightning.train import train
from tests.hydra_utils import compose_config

G_STEPS = 3000  # about 3.2 epochs of MNIST at batch 64


@pytest.mark.slow
def test_dcgan_learns_real_mnist(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CLASSIFIER_DIR", str(tmp_path / "classifiers"))  # none yet: trained first
    cfg = compose_config(
        "train",
        [f"max_g_steps={G_STEPS}", "metrics.every_n_g_steps=1000", "data.num_workers=0",
         "~callbacks.progress_bar"],
        tmp_path / "run",
    )
    train(cfg)

    classifier = torch.load(tmp_path / "classifiers" / "mnist_28.pt", weights_only=True)
    assert classifier["meta"]["test_accuracy"] >= 0.99

    rows = list(csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")))
    scores = {int(float(r["trainer/g_step"])): (float(r["metrics/domain_fid"]), float(r["metrics/domain_is"]))
              for r in rows if r.get("metrics/domain_fid")}
    assert sorted(scores) == [0, 1000, 2000, 3000]
    fid_init, _ = scores[0]
    fid, inception_score = scores[G_STEPS]
    print(f"domain FID {fid_init:.1f} -> {fid:.1f}, domain IS {inception_score:.2f}")
    assert inception_score >= 5.0
    assert fid <= fid_init / 2
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "run" / "samples" / f"g_step={G_STEPS:07d}.png").is_file()
