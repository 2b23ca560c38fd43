"""`python -m gan_lightning.train_scorer`: config composition and a short run on the real labels2fashion photos."""

from __future__ import annotations

import warnings
from pathlib import Path

import hydra
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from gan_lightning import CONFIG_DIR
from gan_lightning.data.fashion_tasks import decode_label_map
from gan_lightning.metrics.fcn_score import load_scorer
from gan_lightning.train_scorer import train_scorer


def compose_cfg(overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train_scorer", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # so ${hydra:runtime.choices.data} resolves
    return cfg


def test_config_and_output_path(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    cfg = compose_cfg(["data=labels2fashion", "data.image_size=64"])
    assert cfg.output == str(tmp_path / "scorers" / "labels2fashion_64.pt") and cfg.dataset == "labels2fashion"
    assert cfg.label_decoder == "labels2fashion" and cfg.data.batches_per_step == 1 and cfg.data.jitter is False
    assert {"max_steps", "batch_size", "lr", "width", "seed"} <= set(cfg)
    with pytest.raises(ValueError, match="label_decoder='nope'"):
        train_scorer(compose_cfg(["label_decoder=nope"]))


def test_short_run_on_real_labels2fashion(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = compose_cfg(["data=labels2fashion", "data.max_train=2000", "data.max_test=200", "data.num_workers=0",
                       "max_steps=150", "batch_size=32", "width=8"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short run may fall below the full run's target; that warns
        result = train_scorer(cfg)
    path = tmp_path / "cache" / "scorers" / "labels2fashion_32.pt"
    assert Path(result["path"]) == path and result["steps"] == 150

    # the all-background prediction's per-pixel accuracy on the same real test photos
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup("test")
    ids = decode_label_map(torch.stack([dm.test_set[i]["A"] for i in range(len(dm.test_set))]))
    baseline = float((ids == 0).float().mean())
    assert 0.3 < baseline < 0.7
    assert result["pixel_accuracy"] > baseline + 0.25, (result, baseline)
    assert result["class_iou"] > 0.3

    scorer = load_scorer(path)
    assert scorer.meta == {**scorer.meta, "dataset": "labels2fashion", "image_size": 32,
                           "label_decoder": "labels2fashion", "steps": 150}
    assert scorer.meta["real_scores"] == {k: result[k] for k in ("pixel_accuracy", "class_accuracy", "class_iou")}
    assert scorer(torch.zeros(2, 1, 32, 32)).shape == (2, 11, 32, 32)
