"""Domain classifier, domain FID / IS through the generative-metrics code path, save / load."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_lightning.metrics.domain import DomainFeatureExtractor, load_domain_classifier, save_classifier
from gan_lightning.metrics.generative import GenerativeMetrics, domain_scores
from gan_lightning.nets.classifier import DomainClassifier

K = 10


def tiny_classifier(image_size: int = 16, channels: int = 1) -> DomainClassifier:
    torch.manual_seed(0)
    return DomainClassifier(channels=channels, image_size=image_size, width=4, feature_dim=16).eval()


def blobs(n: int, seed: int, size: int = 16) -> torch.Tensor:
    """(n, 1, size, size) in [-1, 1]: one Gaussian blob at a random position per image."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(n, 2, 1, 1, generator=g) * size
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    d2 = (yy - centre[:, 0]) ** 2 + (xx - centre[:, 1]) ** 2
    return (torch.exp(-d2 / 8.0) * 2 - 1).unsqueeze(1)


class OneHotStub(nn.Module):
    """Classifier stub: class k <=> constant image -1 + 2k/(K-1); logits = scale * one_hot(k)."""

    channels, image_size, num_classes, feature_dim = 1, 8, K, K

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        k = ((x.mean((1, 2, 3)) + 1) / 2 * (K - 1)).round().long()
        return self.scale * F.one_hot(k, K).float()

    features = forward


def class_images(n: int) -> torch.Tensor:
    k = torch.arange(n) % K
    return (-1 + 2 * k / (K - 1)).float().view(n, 1, 1, 1).expand(n, 1, 8, 8).contiguous()


@pytest.mark.parametrize("size", [28, 32, 64])
def test_classifier_shapes(size):
    model = DomainClassifier(image_size=size).eval()
    x = torch.rand(3, 1, size, size) * 2 - 1
    assert model(x).shape == (3, 10) and model.features(x).shape == (3, 128)
    assert DomainClassifier(channels=3, num_classes=5, image_size=size, width=8, feature_dim=32)(
        torch.zeros(2, 3, size, size)).shape == (2, 5)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_distortion():
    clf, real, other = tiny_classifier(), blobs(400, 0), blobs(400, 1)
    same = domain_scores(clf, real, real)["domain_fid"]
    fresh = domain_scores(clf, other, real)["domain_fid"]  # same distribution, new samples
    g = torch.Generator().manual_seed(2)
    noisy = domain_scores(clf, (other + 0.5 * torch.randn(other.shape, generator=g)).clamp(-1, 1), real)["domain_fid"]
    negated = domain_scores(clf, -other, real)["domain_fid"]
    assert abs(same) < 1e-3 * negated
    assert fresh < noisy and fresh < negated and fresh < 0.2 * negated


def test_inception_score_bounds_uniform_and_one_hot():
    x = class_images(200)
    assert domain_scores(OneHotStub(0.0), x, x)["domain_is"] == pytest.approx(1.0, abs=1e-5)
    assert domain_scores(OneHotStub(50.0), x, x)["domain_is"] == pytest.approx(K, rel=1e-4)
    # All samples of one class: confident but no diversity -> IS = 1.
    assert domain_scores(OneHotStub(50.0), class_images(200)[::K], x)["domain_is"] == pytest.approx(1.0, abs=1e-4)


def test_scores_do_not_depend_on_batch_size():
    clf, real, fake = tiny_classifier(), blobs(400, 0), blobs(400, 1) * 0.8
    a = domain_scores(clf, fake, real, batch_size=50)
    b = domain_scores(clf, fake, real, batch_size=200)
    assert a["domain_fid"] == pytest.approx(b["domain_fid"], rel=1e-4)
    assert a["domain_is"] == pytest.approx(b["domain_is"], rel=1e-5)
    # An iterable of (images, labels) batches is accepted too.
    c = domain_scores(clf, [(x, None) for x in fake.split(100)], real.split(100))
    assert c["domain_fid"] == pytest.approx(a["domain_fid"], rel=1e-4)


def test_reset_keeps_the_real_reference_and_compute_keeps_global_rng():
    metrics = GenerativeMetrics("domain", ("fid", "is"), classifier=tiny_classifier())
    metrics.update_real(blobs(300, 0))
    metrics.update_fake(blobs(300, 1))
    state = torch.get_rng_state()
    first = metrics.compute()
    assert torch.equal(torch.get_rng_state(), state)  # InceptionScore.compute draws a randperm
    metrics.reset()
    assert metrics.num_real == 300
    metrics.update_fake(blobs(300, 1))
    assert metrics.compute() == first


def test_feature_extractor_input_conventions():
    clf = tiny_classifier(image_size=16)
    ext = DomainFeatureExtractor(clf)
    u8 = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    as_float = u8.float() / 255
    assert torch.allclose(ext(u8), ext(as_float))
    assert torch.allclose(ext(as_float), clf.features(as_float * 2 - 1), atol=1e-6)  # [0,1] -> [-1,1]
    assert ext(torch.rand(2, 3, 40, 40)).shape == (2, 16)  # RGB and other sizes are adapted
    assert DomainFeatureExtractor(clf, "logits")(as_float).shape == (4, 10)
    ext.train()
    assert not clf.training  # never leaves eval mode (BatchNorm statistics stay frozen)


def test_save_load_round_trip(tmp_path):
    clf = tiny_classifier(image_size=28)
    with torch.no_grad():
        clf.body[1].running_mean.uniform_()  # buffers travel too
    path = save_classifier(clf, tmp_path / "sub" / "mnist_28.pt", {"dataset": "mnist", "image_size": 28, "test_accuracy": 0.99})
    assert [p.name for p in path.parent.iterdir()] == ["mnist_28.pt"]  # the .tmp file was renamed away
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"state_dict", "config", "meta"} and raw["meta"]["test_accuracy"] == 0.99
    loaded = load_domain_classifier(path)
    assert loaded.config == clf.config and loaded.meta["dataset"] == "mnist" and not loaded.training
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    assert torch.equal(loaded(x), clf(x)) and torch.equal(loaded.features(x), clf.features(x))


def test_missing_classifier_names_path_and_command(tmp_path):
    path = tmp_path / "fashion_mnist_28.pt"
    with pytest.raises(FileNotFoundError) as err:
        load_domain_classifier(path)
    msg = str(err.value)
    assert str(path) in msg and "python -m gan_lightning.train_classifier data=" in msg
    assert "data=fashion_mnist" in msg


def test_fid_is_finite_for_degenerate_features():
    # All-identical fakes: zero covariance (rank 0); torchmetrics must still give a finite, large value.
    clf, real = tiny_classifier(), blobs(200, 0)
    fid = domain_scores(clf, torch.zeros(50, 1, 16, 16), real)["domain_fid"]
    assert math.isfinite(fid) and fid > domain_scores(clf, blobs(200, 1), real)["domain_fid"]
