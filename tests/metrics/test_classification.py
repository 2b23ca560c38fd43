"""The classifier evaluators' precise-BatchNorm option (ClassifierErrorEvaluator, ClusteringEvaluator): the
test error with precise statistics of the clean train images, the module left bit-identical."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_lightning.data.on_device import from_uint8, to_uint8
from gan_lightning.metrics import ClassifierErrorEvaluator, ClusteringEvaluator
from gan_lightning.nets.layers import GaussianNoise
from tests.evaluation_utils import evaluate_once


def images(signs: torch.Tensor) -> torch.Tensor:
    """(N, 1, 2, 2) uint8-valued images in [-1, 1] whose class is the sign of their mean (label 1 for positive)."""
    x = (signs.float().view(-1, 1, 1, 1) * 0.5 + 0.1 * torch.rand(len(signs), 1, 1, 1)).expand(-1, 1, 2, 2)
    return from_uint8(((x * 0.5 + 0.5) * 255).round().to(torch.uint8))


class NoisyBNClassifier(nn.Module):
    """Mean pixel -> noise -> BatchNorm -> logits (-h, h): right where BatchNorm centres at the data's mean."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False), GaussianNoise(0.5), nn.BatchNorm1d(1))
        with torch.no_grad():
            self.body[1].weight.fill_(0.25)
            self.body[3].running_mean.fill_(0.8)  # training's statistics, far off: everything is class 0
        self.head = nn.Linear(1, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.head.bias.zero_()
        self.device = torch.device("cpu")

    def classify(self, x):
        return self.head(self.body(x))


class Data:
    def __init__(self):
        signs = torch.arange(40) % 2 * 2 - 1
        self.train_set = images(signs[:33])  # nearly balanced (clean mean close to 0); batches of 8 leave one of 1
        self.test_set = [(x, int(s > 0)) for x, s in zip(images(signs[:20]), signs[:20])]

    def setup(self, stage=None):
        pass

    def train_tensors(self):
        return to_uint8(self.train_set), None


@pytest.mark.parametrize("evaluator, key, bad", [
    (ClassifierErrorEvaluator, "test_error", 0.5),
    (ClusteringEvaluator, "clustering_error", 0.5),
])
def test_precise_bn_scores_with_clean_train_statistics_and_leaves_the_module_as_it_was(evaluator, key, bad):
    module, data = NoisyBNClassifier(), Data()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    assert evaluate_once(evaluator(batch_size=8), module, data)[key] == pytest.approx(bad)  # running stats
    assert evaluate_once(evaluator(batch_size=8, precise_bn=True), module, data)[key] == 0.0
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert module.training and module.body[2].training


def test_precise_bn_needs_the_train_split_and_says_how_to_turn_it_off():
    data = Data()
    data.train_tensors = None
    with pytest.raises(RuntimeError, match=r"train_tensors\(\).*metrics\.evaluators\.test_error\.precise_bn=false"):
        evaluate_once(ClassifierErrorEvaluator(batch_size=8, precise_bn=True), NoisyBNClassifier(), data)
