"""ClassifierErrorEvaluator (test error) on the evaluation callback: exact error values, cadences, logging, eval
mode, RNG and mode restoration."""

from __future__ import annotations

import csv

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.metrics import ClassifierErrorEvaluator
from tests.evaluation_utils import evaluate_once, scheduled

K = 4


class Oracle(pl.LightningModule):
    """Classifies image i of the test set as its label, except labels in `wrong_for` (predicted as label + 1).

    Test images encode their label as a constant pixel value, so the expected error is known exactly.
    """

    def __init__(self, wrong_for: tuple[int, ...] = (3,)):
        super().__init__()
        self.wrong_for = wrong_for
        self.net = nn.Linear(1, 1)
        self.frozen = nn.BatchNorm1d(1).eval()  # a submodule deliberately in eval mode during training
        self.g_step = 0
        self.modes_seen: list[bool] = []

    def classify(self, x):
        self.modes_seen.append(self.training)
        torch.rand(1)  # drawing from the global RNG here must not leak into training
        y = x.flatten(1)[:, 0].round().long()
        y = torch.where(torch.isin(y, torch.tensor(self.wrong_for)), (y + 1) % K, y)
        return nn.functional.one_hot(y, K).float()

    def training_step(self, batch, batch_idx):
        self.g_step += 1
        return self.net(batch[0]).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.net.parameters(), lr=0.0)


class TinyData(pl.LightningDataModule):
    def __init__(self, n_test: int = 40):
        super().__init__()
        labels = torch.arange(n_test) % K  # 25 % of the labels are 3
        self.test_set = [(torch.full((1, 2, 2), float(y)), int(y)) for y in labels]

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.zeros(4, 1)), batch_size=1)  # 4 steps per epoch


def fit(callback, tmp_path, epochs=3, **kwargs):
    model, dm = Oracle(**kwargs), TinyData()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=CSVLogger(tmp_path, name="", version=""),
                         callbacks=[callback], enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    return model, trainer


def test_error_value_cadence_and_logging(tmp_path):
    cb = scheduled(ClassifierErrorEvaluator(batch_size=7), every_n_epochs=2)
    model, trainer = fit(cb, tmp_path, epochs=3)
    # Start, end of epoch 2 (g_step 8) and at train end (g_step 12); every one wrong on label 3: error 10/40.
    # "epoch" is trainer.current_epoch: 1 during the second epoch, 3 (epochs done) at train end.
    assert [(h["g_step"], h["epoch"]) for h in cb.history] == [(0, 0), (8, 1), (12, 3)]
    assert all(h["test_error"] == pytest.approx(0.25) for h in cb.history)
    assert trainer.callback_metrics["metrics/test_error"].item() == pytest.approx(0.25)
    rows = [r for r in csv.DictReader(open(tmp_path / "metrics.csv")) if r.get("metrics/test_error")]
    assert [(int(float(r["trainer/g_step"])), float(r["metrics/test_error"])) for r in rows] == [(0, 0.25), (8, 0.25), (12, 0.25)]
    assert model.modes_seen and not any(model.modes_seen)  # classify always ran in eval mode
    assert model.training and model.net.training and not model.frozen.training  # flags restored exactly


def test_g_step_cadence_and_other_errors(tmp_path):
    cb = scheduled(ClassifierErrorEvaluator(batch_size=100), every_n_g_steps=3)
    fit(cb, tmp_path, epochs=2, wrong_for=(0, 1))
    assert [h["g_step"] for h in cb.history] == [0, 3, 6, 8]  # 0: start, 8: train end
    assert cb.history[0]["test_error"] == pytest.approx(0.5)


def test_max_samples_evenly_spaced(tmp_path):
    evaluator = ClassifierErrorEvaluator(max_samples=8)
    evaluator.setup(Oracle(), TinyData(n_test=40))
    images, labels = evaluator.test_data()
    assert labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]  # items 0, 5, 10, ..., 35
    assert images.shape == (8, 1, 2, 2)


def test_does_not_consume_global_rng(tmp_path):
    model, dm = Oracle(), TinyData()
    state = torch.get_rng_state()
    error = evaluate_once(ClassifierErrorEvaluator(batch_size=3), model, dm)["test_error"]
    assert error == pytest.approx(0.25)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("kwargs, key", [({"batch_size": 0}, "batch_size"), ({"max_samples": 0}, "max_samples")])
def test_bad_arguments(kwargs, key):
    with pytest.raises(ValueError, match=f"metrics.evaluators.test_error.{key}"):
        ClassifierErrorEvaluator(**kwargs)


def test_module_without_classify_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="classify"):
        evaluate_once(ClassifierErrorEvaluator(), pl.LightningModule(), TinyData())
