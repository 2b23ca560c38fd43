"""ClassAccuracyEvaluator on the evaluation callback, on stub conditional generators and a classifier trained on synthetic classes (CPU, seconds)."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.metrics import ClassAccuracyEvaluator
from tests.evaluation_utils import RecordingLogger, scheduled
from gan_lightning.metrics.domain import save_classifier
from gan_lightning.nets.classifier import DomainClassifier

K, SIZE, GEN_SIZE, Z = 4, 8, 16, 3


def patterns(size: int) -> torch.Tensor:
    """(K, 1, size, size) in [-1, 1]: class k is quadrant k lit."""
    out = -torch.ones(K, 1, size, size)
    h = size // 2
    for k in range(K):
        r, c = divmod(k, 2)
        out[k, :, r * h:(r + 1) * h, c * h:(c + 1) * h] = 1
    return out


@pytest.fixture(scope="module")
def classifier_path(tmp_path_factory):
    """A DomainClassifier at 8x8 that recognises the K quadrant classes (trained here in about a second)."""
    torch.manual_seed(0)
    clf = DomainClassifier(channels=1, num_classes=K, image_size=SIZE, width=4, feature_dim=16)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-2)
    base = patterns(SIZE)
    for _ in range(60):
        y = torch.randint(0, K, (64,))
        x = (base[y] + 0.3 * torch.randn(64, 1, SIZE, SIZE)).clamp(-1, 1)
        loss = F.cross_entropy(clf(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    clf.eval()
    assert (clf(base).argmax(1) == torch.arange(K)).all()
    path = tmp_path_factory.mktemp("clf") / "quadrants_8.pt"
    return str(save_classifier(clf, path, {"dataset": "quadrants", "image_size": SIZE}))


class StubCGAN(pl.LightningModule):
    """Conditional-model stand-in: `generate_from(z, y)` draws class `mapping(y)` at 16x16 plus a little z noise."""

    class_conditional = True

    def __init__(self, mapping=lambda y: y, num_classes: int = K):
        super().__init__()
        self.num_classes, self.g_step, self.mapping = num_classes, 0, mapping
        self.generator = nn.Sequential(nn.Linear(Z, 4), nn.BatchNorm1d(4))  # something with train/eval state
        self.frozen = nn.BatchNorm1d(2).eval()
        self.register_buffer("images", patterns(GEN_SIZE))
        self.calls: list[tuple[bool, torch.Tensor]] = []

    def sample_latent(self, n, generator=None):
        return torch.randn(n, Z, generator=generator, device=self.device)

    def generate_from(self, z, y):
        self.calls.append((self.generator.training, y.clone()))
        noise = 0.1 * z[:, :1, None, None]
        return (self.images[self.mapping(y)] + noise).clamp(-1, 1)

    def training_step(self, batch, batch_idx):
        self.g_step += 1
        z = torch.randn(batch[0].shape[0], Z, device=self.device)  # global RNG, like a GAN's latents
        return self.generator(z).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.generator.parameters(), lr=0.01)


class TinyData(pl.LightningDataModule):
    name = "quadrants"

    def __init__(self):
        super().__init__()
        self.train_set = TensorDataset(torch.zeros(40, 1, SIZE, SIZE), torch.zeros(40, dtype=torch.long))

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))


def fit(callback, module=None, max_steps=10):
    torch.manual_seed(0)
    module, logger = module or StubCGAN(), RecordingLogger()
    trainer = pl.Trainer(max_steps=max_steps, accelerator="cpu", logger=logger, callbacks=[callback] if callback else [],
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=TinyData())
    return trainer, module, logger


def make(path, every_n_g_steps=4, **kw):
    evaluator = ClassAccuracyEvaluator(path, **{"num_per_class": 20, "batch_size": 16, "seed": 7, **kw})
    return scheduled(evaluator, every_n_g_steps=every_n_g_steps)


def test_perfect_generator_scores_one(classifier_path):
    cb = make(classifier_path)
    trainer, module, logger = fit(cb)
    assert [h["g_step"] for h in cb.history] == [0, 4, 8, 10]  # start, every 4, end
    for h in cb.history:
        assert h["class_accuracy"] == 1.0 and h["per_class"] == [1.0] * K
    # K * 20 = 80 samples in batches of 16: 5 calls per evaluation, all in eval mode, every class asked for.
    assert len(module.calls) == 5 * 4 and not any(training for training, _ in module.calls)
    asked = torch.cat([y for _, y in module.calls[:5]])
    assert torch.equal(asked, torch.arange(K).repeat_interleave(20))

    keys = set().union(*(m for _, m in logger.records))
    assert {"metrics/class_accuracy", "trainer/g_step", *(f"metrics/class_accuracy/{k}" for k in range(K))} <= keys
    assert [(step, m["trainer/g_step"]) for step, m in logger.records] == [(0, 0), (4, 4), (8, 8), (10, 10)]
    assert trainer.callback_metrics["metrics/class_accuracy"].item() == 1.0
    assert trainer.callback_metrics["metrics/class_accuracy/3"].item() == 1.0


def test_constant_generator_scores_one_over_k(classifier_path):
    cb = make(classifier_path, every_n_g_steps=None)
    fit(cb, StubCGAN(mapping=torch.zeros_like))
    assert [h["g_step"] for h in cb.history] == [0, 10]
    assert cb.history[-1]["class_accuracy"] == pytest.approx(1 / K)
    assert cb.history[-1]["per_class"] == [1.0, 0.0, 0.0, 0.0]


def test_wrong_class_scores_zero(classifier_path):
    """Drawing *a* clean digit is not enough: it must be the requested one."""
    cb = make(classifier_path, every_n_g_steps=None)
    fit(cb, StubCGAN(mapping=lambda y: (y + 1) % K))
    assert cb.history[-1]["class_accuracy"] == 0.0


def test_side_effect_free_and_independent_of_batch_size(classifier_path):
    cb = make(classifier_path)
    trainer, module, _ = fit(cb, StubCGAN(mapping=lambda y: torch.where(y == 2, torch.zeros_like(y), y)))
    module.train()
    module.frozen.eval()
    rng = torch.get_rng_state()
    record = cb.evaluate(trainer, module)
    assert torch.equal(torch.get_rng_state(), rng)
    assert module.training and module.generator.training and not module.frozen.training
    assert record["per_class"] == [1.0, 1.0, 0.0, 1.0]
    other = make(classifier_path, batch_size=7)
    other.setup(trainer, module, "fit")
    assert other.evaluate(trainer, module)["per_class"] == record["per_class"]


def test_training_is_identical_with_and_without_callback(classifier_path):
    _, a, _ = fit(make(classifier_path, every_n_g_steps=1))
    rng_with = torch.get_rng_state()
    _, b, _ = fit(None)
    assert torch.equal(torch.get_rng_state(), rng_with)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_state_dict_round_trip(classifier_path):
    cb = make(classifier_path)
    fit(cb, max_steps=5)
    restored = make(classifier_path)
    restored.load_state_dict(cb.state_dict())
    assert restored.history == cb.history and restored._last_g_step == 5


@pytest.mark.parametrize("key,kw", [("num_per_class", {"num_per_class": 0}), ("batch_size", {"batch_size": 0})])
def test_invalid_arguments(classifier_path, key, kw):
    with pytest.raises(ValueError, match=rf"metrics.evaluators.class_accuracy.{key} must be"):
        make(classifier_path, **kw)


def test_setup_errors(classifier_path, tmp_path):
    with pytest.raises(FileNotFoundError, match="gan_lightning.train_classifier"):
        fit(make(str(tmp_path / "mnist_28.pt")))
    with pytest.raises(ValueError, match="has 4 classes, the model 10"):
        fit(make(classifier_path), StubCGAN(num_classes=10))
    unconditional = StubCGAN()
    unconditional.class_conditional = False  # num_classes kept: SGAN and CatGAN have one too
    with pytest.raises(ValueError, match="class-conditional model"):
        fit(make(classifier_path), unconditional)
