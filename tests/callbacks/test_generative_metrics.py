"""GenerativeEvaluator (domain extractor) and the EvaluationCallback on a tiny fake GAN module and a
TensorDataset datamodule (CPU, seconds)."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.callbacks import EvaluationCallback
from gan_lightning.metrics import ClassifierErrorEvaluator, GenerativeEvaluator
from tests.evaluation_utils import scheduled
from gan_lightning.metrics.domain import save_classifier
from gan_lightning.nets.classifier import DomainClassifier

SIZE, Z = 8, 4


class RecordingLogger(Logger):
    def __init__(self):
        super().__init__()
        self.records: list[tuple[int, dict]] = []

    name, version = "rec", 0

    def log_metrics(self, metrics, step=None):
        self.records.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs):
        pass


class TinyGAN(pl.LightningModule):
    """Stand-in for the GAN module: ``generate`` + ``g_step``; one generator step every ``n_critic`` batches."""

    def __init__(self, n_critic: int = 2):
        super().__init__()
        self.n_critic, self.g_step = n_critic, 0
        self.generator = nn.Sequential(nn.Linear(Z, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, SIZE * SIZE), nn.Tanh())
        self.frozen = nn.BatchNorm1d(3).eval()  # a submodule deliberately kept in eval mode
        self.sampling_modes: list[bool] = []

    def generate(self, n: int, generator: torch.Generator) -> torch.Tensor:
        self.sampling_modes.append(self.generator.training)
        z = torch.randn(n, Z, generator=generator, device=self.device)
        return self.generator(z).view(n, 1, SIZE, SIZE)

    def training_step(self, batch, batch_idx):
        x, _ = batch
        z = torch.randn(x.shape[0], Z, device=self.device)  # global RNG, like a real GAN's latent draws
        loss = (self.generator(z).view_as(x) - x).pow(2).mean()
        if batch_idx % self.n_critic == self.n_critic - 1:
            self.g_step += 1
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.generator.parameters(), lr=0.1)


class TinyData(pl.LightningDataModule):
    name = "tiny"

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.train_set = TensorDataset(torch.rand(64, 1, SIZE, SIZE, generator=g) * 2 - 1, torch.zeros(64, dtype=torch.long))
        self.test_set = TensorDataset(torch.rand(48, 1, SIZE, SIZE, generator=g) * 2 - 1, torch.zeros(48, dtype=torch.long))

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def classifier_path(tmp_path):
    torch.manual_seed(123)
    clf = DomainClassifier(channels=1, image_size=SIZE, width=4, feature_dim=16)
    return str(save_classifier(clf, tmp_path / "tiny_8.pt", {"dataset": "tiny", "image_size": SIZE}))


def fit(callbacks, max_steps=20, seed=0, accelerator="cpu"):
    torch.manual_seed(seed)
    module, logger = TinyGAN(), RecordingLogger()
    trainer = pl.Trainer(
        max_steps=max_steps, accelerator=accelerator, devices=1, logger=logger, callbacks=callbacks, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(module, datamodule=TinyData())
    return trainer, module, logger


def make_callback(path, every_n_g_steps=4, **kw):
    evaluator = GenerativeEvaluator(**{"feature_extractor": "domain", "classifier_path": path, "num_fake": 40,
                                       "num_real": 40, "batch_size": 16, "seed": 7, "is_splits": 1, **kw})
    return scheduled(evaluator, name="generative", every_n_g_steps=every_n_g_steps)


def test_history_logging_and_modes(classifier_path):
    cb = make_callback(classifier_path)
    trainer, module, logger = fit([cb], max_steps=22)  # 22 batches, n_critic=2 -> 11 generator steps
    assert [h["g_step"] for h in cb.history] == [0, 4, 8, 11]  # init, every 4 (once per g_step), train end
    assert all(h["domain_fid"] >= 0 and 1 <= h["domain_is"] <= 10 for h in cb.history)
    assert cb.history[0] != cb.history[1]  # the generator changed

    keys = set().union(*(m for _, m in logger.records))
    assert {"metrics/domain_fid", "metrics/domain_is", "metrics/domain_fid_real", "metrics/domain_is_real", "trainer/g_step"} <= keys
    first_ref = next((step, m) for step, m in logger.records if "metrics/domain_fid_real" in m)
    assert first_ref[0] == 0 and first_ref[1]["trainer/g_step"] == 0  # references logged from step 0
    generative = cb.evaluators["generative"]
    assert 0 <= generative.real_values["fid"] and generative.real_values["is"] >= 1
    assert generative.protocol["num_fake"] == 40 and generative.protocol["real_split"] == "test"
    assert "uint8" in generative.protocol["quantization"]
    evals = [(step, m["trainer/g_step"]) for step, m in logger.records if "metrics/domain_fid" in m]
    assert evals == [(0, 0), (8, 4), (16, 8), (22, 11)]  # step = trainer.global_step
    assert trainer.callback_metrics["metrics/domain_fid"].item() == pytest.approx(cb.history[-1]["domain_fid"])

    # Sampling ran in eval mode (40 samples in batches of 16 -> 3 calls per evaluation); modes restored after.
    assert module.sampling_modes == [False] * 12
    module.train()
    module.frozen.eval()
    rng = torch.get_rng_state()
    again = cb.evaluate(trainer, module)
    assert torch.equal(torch.get_rng_state(), rng)
    assert module.training and module.generator.training and not module.frozen.training
    assert again["domain_fid"] == pytest.approx(cb.history[-2]["domain_fid"])  # same seed, same generator


def rng_states():
    return [torch.get_rng_state()] + ([torch.cuda.get_rng_state()] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("accelerator", ["cpu", pytest.param("gpu", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))])
def test_training_is_bit_identical_with_and_without_callback(classifier_path, accelerator):
    _, with_cb, _ = fit([make_callback(classifier_path, every_n_g_steps=1)], max_steps=12, accelerator=accelerator)
    rng_with = rng_states()
    _, without, _ = fit([], max_steps=12, accelerator=accelerator)
    assert all(torch.equal(a, b) for a, b in zip(rng_states(), rng_with))
    a, b = with_cb.state_dict(), without.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # incl. BatchNorm running stats


def test_missing_classifier_fails_before_training(tmp_path):
    cb = make_callback(str(tmp_path / "mnist_28.pt"))
    torch.manual_seed(0)
    module = TinyGAN()
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, callbacks=[cb], enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(FileNotFoundError, match="gan_lightning.train_classifier"):
        trainer.fit(module, datamodule=TinyData())
    assert module.g_step == 0 and trainer.global_step == 0


def test_state_dict_round_trip_skips_reevaluation(classifier_path):
    cb = make_callback(classifier_path)
    fit([cb], max_steps=8)
    restored = make_callback(classifier_path)
    restored.load_state_dict(cb.state_dict())
    assert restored.history == cb.history
    assert restored.evaluators["generative"].real_values == cb.evaluators["generative"].real_values
    assert restored._last_g_step == 4


def test_one_evaluation_callback_drives_every_metric_on_one_cadence(classifier_path):
    class Classifying(TinyGAN):
        def classify(self, x):
            return torch.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], 1)

    cb = EvaluationCallback(
        evaluators={"test_error": ClassifierErrorEvaluator(batch_size=16), "dropped": None},
        generative={"names": ["fid", "is"], "num_fake": 40, "num_real": 40, "batch_size": 16, "is_splits": 1},
        classifier_path=classifier_path, every_n_g_steps=3)
    torch.manual_seed(0)
    module, logger = Classifying(), RecordingLogger()
    trainer = pl.Trainer(max_steps=14, accelerator="cpu", logger=logger, callbacks=[cb], enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=TinyData())
    assert list(cb.evaluators) == ["generative", "test_error"]
    assert [h["g_step"] for h in cb.history] == [0, 3, 6, 7]  # start, every 3, end
    assert all({"domain_fid", "domain_is", "domain_fid_real", "test_error"} <= set(h) for h in cb.history)
    logged = [m for _, m in logger.records if "metrics/test_error" in m]
    assert len(logged) == 4 and all("metrics/domain_fid" in m for m in logged)  # one record per evaluation
    restored = EvaluationCallback(evaluators={"test_error": ClassifierErrorEvaluator()}, classifier_path=classifier_path,
                                  generative={"names": ["fid"], "num_fake": 40, "num_real": 40})
    restored.load_state_dict(cb.state_dict())
    assert restored.history == cb.history
    assert restored.evaluators["generative"].real_values == cb.evaluators["generative"].real_values
