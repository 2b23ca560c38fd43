"""ClusteringEvaluator on the evaluation callback, on a tiny fake categorical module and TensorDataset datamodule (CPU, seconds)."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.callbacks import EvaluationCallback
from gan_lightning.metrics import ClusteringEvaluator
from tests.evaluation_utils import RecordingLogger, scheduled

K, SIZE = 4, 4
PERM = [2, 0, 3, 1]  # the module's cluster ids are a permutation of the class ids


def encode(labels: torch.Tensor) -> torch.Tensor:
    """Images (N, 1, SIZE, SIZE) in [-1, 1] whose first K pixels one-hot encode the label."""
    x = -torch.ones(labels.shape[0], SIZE * SIZE)
    x[torch.arange(labels.shape[0]), labels] = 1.0
    return x.view(-1, 1, SIZE, SIZE)


class TinyCategorical(pl.LightningModule):
    """Stand-in for CatGAN: ``classify`` reads the encoded label and permutes it; ``g_step`` counts batches."""

    def __init__(self):
        super().__init__()
        self.g_step = 0
        self.net = nn.Sequential(nn.Linear(SIZE * SIZE, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
        self.frozen = nn.BatchNorm1d(3).eval()  # deliberately kept in eval mode
        self.classify_modes: list[bool] = []

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        self.classify_modes.append(self.net.training)
        self.net(x.flatten(1))  # would update BatchNorm statistics in train mode
        logits = x.flatten(1)[:, :K]
        return logits[:, PERM]  # cluster j = class PERM[j]

    def training_step(self, batch, batch_idx):
        x, _ = batch
        noise = torch.randn_like(x)  # global RNG, like a GAN's latent draws
        self.g_step += 1
        return self.net((x + noise).flatten(1)).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.net.parameters(), lr=0.1)


class TinyData(pl.LightningDataModule):
    name, num_classes = "tiny", K

    def __init__(self, corrupt: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        train_labels = torch.randint(0, K, (16,), generator=g)
        self.train_set = TensorDataset(encode(train_labels), train_labels)
        labels = torch.arange(K).repeat(10)  # 40 test images, balanced
        shown = labels.clone()
        shown[:corrupt] = (shown[:corrupt] + 1) % K  # the first `corrupt` images look like the next class
        self.test_set = TensorDataset(encode(shown), labels)

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))


def fit(callbacks, max_epochs=3, corrupt=0, seed=0):
    torch.manual_seed(seed)
    module, logger = TinyCategorical(), RecordingLogger()
    trainer = pl.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1, logger=logger, callbacks=callbacks,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=TinyData(corrupt))
    return trainer, module, logger


def test_cadence_logging_and_permutation_invariance():
    cb = scheduled(ClusteringEvaluator(batch_size=16), every_n_epochs=2, every_n_g_steps=3)
    trainer, module, logger = fit([cb], max_epochs=3)  # 4 batches per epoch -> 12 generator steps
    # Start, every 3 g_steps, end of epoch 2 (g_step 8), train end (g_step 12 already evaluated: not repeated).
    assert [h["g_step"] for h in cb.history] == [0, 3, 6, 8, 9, 12]
    assert all(h["clustering_accuracy"] == 1.0 and h["clustering_error"] == 0.0 for h in cb.history)
    evals = [(step, m["trainer/g_step"]) for step, m in logger.records if "metrics/clustering_accuracy" in m]
    assert evals == [(0, 0), (3, 3), (6, 6), (8, 8), (9, 9), (12, 12)]  # step = trainer.global_step
    assert all("metrics/clustering_error" in m for _, m in logger.records if "metrics/clustering_accuracy" in m)
    assert trainer.callback_metrics["metrics/clustering_accuracy"].item() == 1.0
    # 40 test images in batches of 16 -> 3 classify calls per evaluation, all in eval mode.
    assert module.classify_modes == [False] * 18


@pytest.mark.parametrize("corrupt", [10, 20])
def test_exact_partial_accuracy(corrupt):
    cb = scheduled(ClusteringEvaluator(), every_n_epochs=1)
    trainer, _, _ = fit([cb], max_epochs=1, corrupt=corrupt)
    # 40 balanced images; the first `corrupt` are misclassified (they look like the next class) and no other
    # one-to-one mapping does better while corrupt <= 20.
    assert cb.history[-1]["clustering_accuracy"] == pytest.approx(1 - corrupt / 40)
    assert trainer.callback_metrics["metrics/clustering_error"].item() == pytest.approx(corrupt / 40)


def test_max_samples_takes_an_evenly_spaced_subset():
    cb = scheduled(ClusteringEvaluator(max_samples=8), every_n_epochs=1)
    fit([cb], max_epochs=1, corrupt=10)
    # Items 0, 5, ..., 35: items 0 and 5 are corrupted -> 6 / 8.
    assert cb.history[-1]["clustering_accuracy"] == pytest.approx(6 / 8)


def test_modes_and_global_rng_are_restored():
    cb = scheduled(ClusteringEvaluator())
    trainer, module, _ = fit([cb], max_epochs=1)
    module.train()
    module.frozen.eval()
    stats = module.net[1].running_mean.clone()
    rng = torch.get_rng_state()
    record = cb.evaluate(trainer, module)
    assert record["clustering_accuracy"] == 1.0
    assert torch.equal(torch.get_rng_state(), rng)
    assert module.training and module.net.training and not module.frozen.training
    assert torch.equal(module.net[1].running_mean, stats)  # classified in eval mode


def test_training_is_bit_identical_with_and_without_callback():
    _, with_cb, _ = fit([scheduled(ClusteringEvaluator(), every_n_epochs=1, every_n_g_steps=1)], max_epochs=2)
    rng_with = torch.get_rng_state()
    _, without, _ = fit([], max_epochs=2)
    assert torch.equal(torch.get_rng_state(), rng_with)
    a, b = with_cb.state_dict(), without.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # incl. BatchNorm running stats


def test_state_dict_round_trip_skips_reevaluation():
    cb = scheduled(ClusteringEvaluator(), every_n_epochs=1)
    fit([cb], max_epochs=1)
    restored = scheduled(ClusteringEvaluator(), every_n_epochs=1)
    restored.load_state_dict(cb.state_dict())
    assert restored.history == cb.history and restored._last_g_step == 4


@pytest.mark.parametrize(("kwargs", "key"), [({"batch_size": 0}, "batch_size"), ({"max_samples": 0}, "max_samples"),
                                             ({"mapping": "vote"}, "mapping")])
def test_invalid_arguments(kwargs, key):
    with pytest.raises(ValueError, match=f"metrics.evaluators.clustering.{key}"):
        ClusteringEvaluator(**kwargs)


@pytest.mark.parametrize(("kwargs", "key"), [({"every_n_epochs": -1}, "every_n_epochs"),
                                             ({"every_n_g_steps": -2}, "every_n_g_steps")])
def test_invalid_cadence(kwargs, key):
    with pytest.raises(ValueError, match=f"metrics.{key}"):
        EvaluationCallback(**kwargs)
