"""FCNScoreEvaluator on translators with known outputs: one returning the real photo (generated score = the real
upper bound) and one returning a blank image (scores of the all-background segmentation)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from gan_lightning.metrics import FCNScoreEvaluator
from tests.evaluation_utils import evaluate_on
from gan_lightning.data.fashion_tasks import encode_label_map
from gan_lightning.metrics.fcn_score import save_scorer
from gan_lightning.nets.fcn import FCNSegmenter

LEVELS = torch.linspace(-1, 1, 11)  # photo brightness of each label id in the synthetic pairs


def test_pairs(n: int = 10, size: int = 8) -> list[dict[str, torch.Tensor]]:
    """Label maps with one rectangle of id 1 + i % 10 on background 0; photos paint id k with LEVELS[k]."""
    items = []
    for i in range(n):
        ids = torch.zeros(size, size, dtype=torch.int64)
        ids[1 + i % 3: 5 + i % 3, 2:6 + i % 2] = 1 + i % 10
        items.append({"A": encode_label_map(ids), "B": LEVELS[ids][None]})
    return items


test_pairs.__test__ = False  # a helper, not a test


class Oracle(nn.Module):
    """A perfect 'segmenter' of the synthetic photos: logits peak at the id whose brightness is nearest."""

    num_classes, in_channels = 11, 1

    def __init__(self):
        super().__init__()
        self.register_buffer("levels", LEVELS.view(1, -1, 1, 1))

    def forward(self, x):
        return -(x - self.levels).square()


class Translator(pl.LightningModule):
    """translate(A) = the real photo of A's pair (looked up by content), or a blank background image."""

    def __init__(self, pairs, blank: bool = False):
        super().__init__()
        self.g_step, self.blank = 0, blank
        self.photos = {p["A"].numpy().tobytes(): p["B"] for p in pairs}
        self.bn = nn.BatchNorm2d(1)  # in train mode: the callback must evaluate in eval mode and restore it

    def translate(self, x, direction="AtoB"):
        assert not self.training
        if self.blank:
            return torch.full((len(x), 1, *x.shape[-2:]), -1.0)
        return torch.stack([self.photos[a.numpy().tobytes()] for a in x])


def fake_trainer(test_set, fast_dev_run=False):
    return SimpleNamespace(datamodule=SimpleNamespace(test_set=test_set), fast_dev_run=fast_dev_run, loggers=[],
                           callback_metrics={}, global_step=0, current_epoch=0, global_rank=0, world_size=1)


def with_oracle(**kwargs) -> FCNScoreEvaluator:
    cb = FCNScoreEvaluator(scorer_path="unused.pt", **kwargs)
    cb._scorer = Oracle()
    return cb


def test_real_photos_reach_the_upper_bound_and_blank_ones_score_background_only():
    pairs = test_pairs()
    cb = with_oracle(batch_size=3)  # batches of 3, 3, 3, 1
    model = Translator(pairs)
    trainer = fake_trainer(pairs)
    record = evaluate_on(cb, trainer, model)
    for name in ("pixel_accuracy", "class_accuracy", "class_iou"):
        assert record[f"fcn_{name}"] == record[f"fcn_{name}_real"] == 1.0
    assert model.training and model.bn.training  # restored
    assert float(trainer.callback_metrics["metrics/fcn_class_iou"]) == 1.0

    trainer = fake_trainer(pairs)
    blank = evaluate_on(cb, trainer, Translator(pairs, blank=True))
    ids = torch.stack([p["B"] for p in pairs])  # background pixels are those at LEVELS[0] = -1
    background = float((ids == -1).float().mean())
    present = 1 + 10  # background and all 10 item ids occur in the 10 pairs
    assert blank["fcn_pixel_accuracy"] == pytest.approx(background)
    assert blank["fcn_class_accuracy"] == pytest.approx(1 / present)  # background right, every item class wrong
    assert blank["fcn_class_iou"] == pytest.approx(background / present)  # background: bg / all pixels
    assert blank["fcn_pixel_accuracy_real"] == 1.0
    assert float(trainer.callback_metrics["metrics/fcn_pixel_accuracy"]) == pytest.approx(background)
    assert float(trainer.callback_metrics["metrics/fcn_class_iou_real"]) == 1.0


def test_upper_bound_is_computed_once_and_survives_a_resume():
    pairs = test_pairs()
    cb = with_oracle()
    evaluate_on(cb, fake_trainer(pairs), Translator(pairs))
    state = cb.state_dict()
    assert state["real_scores"] == {"num_samples": 10, "scores": {
        "fcn_pixel_accuracy_real": 1.0, "fcn_class_accuracy_real": 1.0, "fcn_class_iou_real": 1.0}}

    resumed = with_oracle()
    resumed.load_state_dict(state)
    blanked = [{"A": p["A"], "B": torch.full_like(p["B"], -1.0)} for p in pairs]  # real photos would now score badly
    record = evaluate_on(resumed, fake_trainer(blanked), Translator(blanked))
    assert record["fcn_pixel_accuracy_real"] == 1.0 and record["fcn_pixel_accuracy"] < 1.0  # cached bound kept
    # a different number of test pairs (here fast_dev_run: batch_size of them) recomputes it
    fast = with_oracle(batch_size=4)
    fast.load_state_dict(state)
    record = evaluate_on(fast, fake_trainer(blanked, fast_dev_run=True), Translator(blanked))
    assert fast.real_scores["num_samples"] == 4 and record["fcn_pixel_accuracy_real"] < 1.0


def test_setup_loads_and_checks_the_scorer(tmp_path):
    trainer = SimpleNamespace(datamodule=SimpleNamespace(channels_b=1, image_size=8))
    path = tmp_path / "labels2fashion_8.pt"
    save_scorer(FCNSegmenter(in_channels=1, num_classes=11, width=2), path,
                {"dataset": "labels2fashion", "image_size": 8, "label_decoder": "labels2fashion"})
    cb = FCNScoreEvaluator(scorer_path=str(path))
    cb.setup(pl.LightningModule(), trainer.datamodule)
    assert isinstance(cb._scorer, FCNSegmenter) and not cb._scorer.training
    # a loaded (untrained) segmenter: the real-photo translator still equals the upper bound exactly
    pairs = test_pairs(size=8)
    record = evaluate_on(cb, fake_trainer(pairs), Translator(pairs))
    assert all(record[f"fcn_{n}"] == record[f"fcn_{n}_real"] for n in ("pixel_accuracy", "class_accuracy", "class_iou"))

    with pytest.raises(FileNotFoundError, match="python -m gan_lightning.train_scorer data=labels2fashion"):
        FCNScoreEvaluator(scorer_path=str(tmp_path / "none.pt")).setup(pl.LightningModule(), trainer.datamodule)
    with pytest.raises(ValueError, match="metrics.evaluators.fcn_score.label_decoder=cityscapes has 19"):
        FCNScoreEvaluator(scorer_path=str(path), label_decoder="cityscapes").setup(pl.LightningModule(), trainer.datamodule)
    rgb = SimpleNamespace(datamodule=SimpleNamespace(channels_b=3, image_size=8))
    with pytest.raises(ValueError, match="segments 1-channel photos"):
        FCNScoreEvaluator(scorer_path=str(path)).setup(pl.LightningModule(), rgb.datamodule)
    larger = SimpleNamespace(datamodule=SimpleNamespace(channels_b=1, image_size=32))
    with pytest.warns(UserWarning, match="trained at 8 px, the data is 32 px"):
        FCNScoreEvaluator(scorer_path=str(path)).setup(pl.LightningModule(), larger.datamodule)


def test_argument_and_module_errors():
    with pytest.raises(ValueError, match="metrics.evaluators.fcn_score.label_decoder='facades'"):
        FCNScoreEvaluator(scorer_path="x.pt", label_decoder="facades")
    with pytest.raises(ValueError, match="metrics.evaluators.fcn_score.batch_size"):
        FCNScoreEvaluator(scorer_path="x.pt", batch_size=0)
    with pytest.raises(RuntimeError, match="before setup"):
        FCNScoreEvaluator(scorer_path="x.pt").compute(Translator(test_pairs()))
    with pytest.raises(RuntimeError, match="translate"):
        evaluate_on(with_oracle(), fake_trainer(test_pairs()), pl.LightningModule())
