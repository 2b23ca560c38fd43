"""PairedEvaluator (L1 / PSNR / SSIM) and TranslationSuccessEvaluator on translators with known outputs."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from gan_lightning.metrics import EvalContext, PairedEvaluator, TranslationSuccessEvaluator
from tests.evaluation_utils import evaluate_on
from gan_lightning.metrics.domain import save_classifier
from gan_lightning.nets.classifier import DomainClassifier


class Shift(pl.LightningModule):
    """translate(x) = x + offset: a translator whose errors are known in closed form."""

    def __init__(self, offset: float):
        super().__init__()
        self.offset, self.g_step = offset, 0
        self.bn = nn.BatchNorm2d(1)  # in train mode: the callback must evaluate in eval mode and restore it

    def translate(self, x, direction="AtoB"):
        assert not self.training
        return x + self.offset


def pairs(n: int = 10, size: int = 16) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    items = []
    for _ in range(n):
        y = torch.rand(1, size, size, generator=g) * 1.6 - 0.8  # in [-0.8, 0.8]: a 0.1 shift stays in range
        items.append({"A": y.clone(), "B": y})
    return items


def fake_trainer(test_set, fast_dev_run=False):
    return SimpleNamespace(datamodule=SimpleNamespace(test_set=test_set), fast_dev_run=fast_dev_run, loggers=[],
                           callback_metrics={}, global_step=0, current_epoch=0, global_rank=0, world_size=1)


def test_paired_metrics_of_a_known_shift():
    model = Shift(0.1)
    trainer = fake_trainer(pairs())
    record = evaluate_on(PairedEvaluator(batch_size=3), trainer, model)  # batches of 3, 3, 3, 1
    assert record["l1"] == pytest.approx(0.1, abs=1e-6)
    # in [0, 1] units the error is 0.05 everywhere: PSNR = 10 log10(1 / 0.05^2)
    assert record["psnr"] == pytest.approx(10 * math.log10(1 / 0.05**2), abs=1e-3)
    assert 0.5 < record["ssim"] < 1.0
    assert model.training and model.bn.training  # restored
    assert float(trainer.callback_metrics["metrics/l1"]) == pytest.approx(0.1, abs=1e-6)
    perfect = evaluate_on(PairedEvaluator(), fake_trainer(pairs()), Shift(0.0))
    assert perfect["l1"] == 0 and perfect["ssim"] == pytest.approx(1.0)


def test_paired_metrics_limits_and_errors():
    cb = PairedEvaluator(batch_size=4)
    trainer = fake_trainer(pairs(10), fast_dev_run=True)
    cb.setup(pl.LightningModule(), trainer.datamodule, EvalContext(quick=True))
    assert cb.test_data()["A"].shape[0] == 4
    with pytest.raises(RuntimeError, match="translate"):
        evaluate_on(cb, fake_trainer(pairs()), pl.LightningModule())
    with pytest.raises(ValueError, match="metrics.evaluators.paired.batch_size"):
        PairedEvaluator(batch_size=0)


class ByMean(nn.Module):
    """A 2-class 'classifier' of [0, 1] images: class 1 when the mean is above 0.5."""

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1)


def test_translation_success_counts_the_target_class():
    cb = TranslationSuccessEvaluator(classifier_path="unused.pt", target_class=1, batch_size=4)
    cb._classify = ByMean()
    dark = [{"A": torch.full((1, 8, 8), -0.5), "B": torch.zeros(1, 8, 8)} for _ in range(10)]
    assert evaluate_on(cb, fake_trainer(dark), Shift(0.0))["translation_success"] == 0.0
    assert evaluate_on(cb, fake_trainer(dark), Shift(1.2))["translation_success"] == 1.0  # brightened past 0.5
    with pytest.raises(ValueError, match="target_class"):
        TranslationSuccessEvaluator(classifier_path="unused.pt", target_class=-1)


def test_translation_success_checks_the_classifier(tmp_path):
    save_classifier(DomainClassifier(channels=1, num_classes=10, width=4, feature_dim=8), tmp_path / "clf.pt", {})
    cb = TranslationSuccessEvaluator(classifier_path=str(tmp_path / "clf.pt"), target_class=12)
    with pytest.raises(ValueError, match="target_class=12 .* 10 classes"):
        cb.setup(pl.LightningModule(), SimpleNamespace())
    with pytest.raises(FileNotFoundError, match="train_classifier"):
        TranslationSuccessEvaluator(classifier_path=str(tmp_path / "none.pt"), target_class=1).setup(
            pl.LightningModule(), SimpleNamespace())
