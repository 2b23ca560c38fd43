"""GenerativeMetrics: FID against the closed form, IS of uniform / one-hot classifiers, batch-size independence,
the protocol's quantization, the real-statistics cache, the missing-weights message and the weights download."""

from __future__ import annotations

import hashlib
import re
import socket

import numpy as np
import pytest
import torch
from scipy import linalg
from torch import Tensor, nn

from gan_lightning.metrics.generative import (
    INCEPTION_SHA256,
    INCEPTION_URL,
    INCEPTION_WEIGHTS,
    GenerativeMetrics,
    InceptionWeightsError,
    ensure_inception_weights,
    load_or_compute_real,
    verify_inception_weights,
)


def index_images(idx: Tensor, channels: int = 1) -> Tensor:
    """Images (N, C, 1, 2) in [-1, 1] whose uint8 quantization encodes the sample index in two bytes."""
    b = torch.stack([idx // 256, idx % 256], dim=1).float()
    return (b / 127.5 - 1)[:, None, None, :].expand(-1, channels, -1, -1)


class LookupFeatures(nn.Module):
    """A stand-in extractor: decodes the index from the uint8 pixels and returns fixed table rows, so the
    metrics see features drawn exactly from known distributions."""

    def __init__(self, pool: Tensor, logits: Tensor) -> None:
        super().__init__()
        self.tables = {"2048": pool, "logits_unbiased": logits}
        self.seen: list[Tensor] = []

    def outputs(self, images: Tensor) -> dict[str, Tensor]:
        self.seen.append(images)
        assert images.dtype == torch.uint8
        idx = images[:, 0, 0, 0].long() * 256 + images[:, 0, 0, 1].long()
        return {k: v[idx] for k, v in self.tables.items()}

    def select(self, name: str) -> nn.Module:
        outer = self

        class Select(nn.Module):
            num_features = self.tables[name].shape[1]

            def forward(self, images):
                return outer.outputs(images)[name]

        return Select()


def gaussian(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> Tensor:
    return torch.from_numpy(np.random.default_rng(seed).multivariate_normal(mean, cov, size=n))


def closed_form_fid(m1, s1, m2, s2) -> float:
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_matches_the_closed_form_for_two_gaussians():
    n, d = 20000, 4
    m1, m2 = np.zeros(d), np.array([1.0, -0.5, 0.0, 2.0])
    s1 = np.diag([1.0, 2.0, 0.5, 1.0])
    a = np.random.default_rng(0).normal(size=(d, d))
    s2 = a @ a.T / d + 0.5 * np.eye(d)
    real, fake = gaussian(n, m1, s1, 1), gaussian(n, m2, s2, 2)
    features = LookupFeatures(torch.cat([real, fake]).float(), torch.zeros(2 * n, 3))
    metrics = GenerativeMetrics("inception", metrics=["fid"], features=features)
    idx = torch.arange(2 * n)
    metrics.update_real(index_images(idx[:n]))
    metrics.update_fake(index_images(idx[n:]))
    fid = metrics.compute()["fid"]
    # exact for the empirical statistics, and close to the population value
    r, f = real.numpy(), fake.numpy()
    empirical = closed_form_fid(r.mean(0), np.cov(r, rowvar=False), f.mean(0), np.cov(f, rowvar=False))
    assert fid == pytest.approx(empirical, rel=1e-3)
    assert fid == pytest.approx(closed_form_fid(m1, s1, m2, s2), rel=0.05)
    assert features.seen[0].shape[1] == 3  # grey tiled to 3 channels for Inception


def test_inception_score_of_uniform_and_one_hot_classifiers():
    n, k = 1000, 10
    uniform = LookupFeatures(torch.zeros(n, 2), torch.zeros(n, k))
    metrics = GenerativeMetrics("inception", metrics=["is"], features=uniform, is_splits=1)
    metrics.update_fake(index_images(torch.arange(n)))
    assert metrics.compute()["is"] == pytest.approx(1.0, abs=1e-6)

    one_hot = LookupFeatures(torch.zeros(n, 2), 100.0 * torch.eye(k)[torch.arange(n) % k])  # confident, balanced
    metrics = GenerativeMetrics("inception", metrics=["is"], features=one_hot, is_splits=1)
    metrics.update_fake(index_images(torch.arange(n)))
    assert metrics.compute()["is"] == pytest.approx(k, rel=1e-4)


def test_scores_do_not_depend_on_the_batch_size():
    n = 600
    pool = gaussian(2 * n, np.zeros(3), np.eye(3), 5).float()
    logits = torch.randn(2 * n, 5, generator=torch.Generator().manual_seed(0))
    values = []
    for batch in (7, 600):
        metrics = GenerativeMetrics("inception", features=LookupFeatures(pool, logits), kid_subset_size=100,
                                    kid_subsets=10, is_splits=1)
        for i in range(0, n, batch):
            metrics.update_real(index_images(torch.arange(i, min(i + batch, n))))
            metrics.update_fake(index_images(torch.arange(n + i, n + min(i + batch, n))))
        torch.manual_seed(0)  # KID's subsets
        values.append(metrics.compute())
    assert values[0].keys() == {"fid", "is", "kid", "kid_std"}  # no is_std with one split
    for key in values[0]:
        assert values[0][key] == pytest.approx(values[1][key], rel=1e-5, abs=1e-8), key


def test_reset_keeps_the_real_reference_and_the_cache_restores_it(tmp_path):
    n = 200
    pool = gaussian(3 * n, np.zeros(2), np.eye(2), 3).float()
    make = lambda: GenerativeMetrics("inception", metrics=["fid", "kid"], kid_subset_size=50, kid_subsets=5,  # noqa: E731
                                     features=LookupFeatures(pool, torch.zeros(3 * n, 2)))
    protocol = {"extractor": "stand-in", "num_real": n}
    real_batches = lambda: [index_images(torch.arange(n))]  # noqa: E731
    first = make()
    assert not load_or_compute_real(first, protocol, tmp_path, real_batches)
    first.update_fake(index_images(torch.arange(n, 2 * n)))
    torch.manual_seed(0)
    a = first.compute()
    first.reset()
    assert first.num_real == n
    cached = make()
    assert load_or_compute_real(cached, protocol, tmp_path, lambda: pytest.fail("recomputed"))
    cached.update_fake(index_images(torch.arange(n, 2 * n)))
    torch.manual_seed(0)
    assert cached.compute() == pytest.approx(a)
    assert not load_or_compute_real(make(), {**protocol, "num_real": n + 1}, tmp_path, real_batches)  # other key


def test_domain_extractor_keeps_grey_images_grey():
    class Clf(nn.Module):
        channels, image_size, feature_dim, num_classes = 1, 8, 3, 4

        def features(self, x):
            assert x.shape[1] == 1
            return x.flatten(1)[:, :3]

        def forward(self, x):
            return x.flatten(1)[:, :4]

    metrics = GenerativeMetrics("domain", metrics=["fid", "is"], classifier=Clf())
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    metrics.update_real(x)
    metrics.update_fake(x)
    assert metrics.compute()["fid"] == pytest.approx(0.0, abs=1e-4)


def test_missing_or_wrong_weights_are_explained(tmp_path):
    with pytest.raises(InceptionWeightsError) as info:
        GenerativeMetrics("inception", inception_weights=tmp_path / INCEPTION_WEIGHTS)
    message = str(info.value)
    assert INCEPTION_WEIGHTS in message and INCEPTION_URL in message and "metrics.inception_weights" in message
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not the weights")
    with pytest.raises(InceptionWeightsError, match="not the 6726825d"):
        verify_inception_weights(bogus)


def test_weights_constants_are_torch_fidelitys():
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert INCEPTION_URL == URL_INCEPTION_V3
    # torch.hub's convention: the hash in the file name is the first hex digits of the file's sha256
    name_hash = re.search(r"-([0-9a-f]{8})\.pth$", INCEPTION_WEIGHTS)[1]
    assert re.fullmatch(r"[0-9a-f]{64}", INCEPTION_SHA256) and INCEPTION_SHA256.startswith(name_hash)


@pytest.fixture
def stand_in(tmp_path):
    """A small file posing as the weights on a local 'server': (its file:// URL, its sha256, its bytes)."""
    payload = np.random.default_rng(0).bytes(300_000)  # more than one of torch.hub's 128 KiB read chunks
    source = tmp_path / "server" / INCEPTION_WEIGHTS
    source.parent.mkdir()
    source.write_bytes(payload)
    return source.as_uri(), hashlib.sha256(payload).hexdigest(), payload


def test_missing_weights_are_downloaded_and_checked(stand_in, tmp_path):
    url, sha256, payload = stand_in
    target = tmp_path / "cache" / "deeper" / INCEPTION_WEIGHTS  # folders are created
    assert ensure_inception_weights(target, url, sha256) == target
    assert target.read_bytes() == payload
    assert [p.name for p in target.parent.iterdir()] == [INCEPTION_WEIGHTS]  # no partial file left behind
    # present now: verified, not fetched again (the URL is gone)
    assert ensure_inception_weights(target, "file:///nonexistent/x.pth", sha256) == target


def test_a_download_with_another_hash_leaves_nothing(stand_in, tmp_path):
    url, sha256, _ = stand_in
    target = tmp_path / "cache" / INCEPTION_WEIGHTS
    with pytest.raises(InceptionWeightsError) as info:
        ensure_inception_weights(target, url)  # the real weights' sha256, not the stand-in's
    message = str(info.value)
    assert url in message and INCEPTION_SHA256 in message and sha256 in message and str(target) in message
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_unreachable_url_keeps_the_offline_error(tmp_path):
    target = tmp_path / INCEPTION_WEIGHTS
    timeout = socket.getdefaulttimeout()
    with pytest.raises(InceptionWeightsError) as offline:
        ensure_inception_weights(target, url=None)
    with pytest.raises(InceptionWeightsError) as failed:
        ensure_inception_weights(target, "file:///nonexistent/weights.pth")
    assert str(failed.value).startswith(str(offline.value))  # the same message, plus the reason
    assert "Downloading it from file:///nonexistent/weights.pth failed" in str(failed.value)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    assert socket.getdefaulttimeout() == timeout  # the download's timeout is not left behind


def test_run_config_downloads_from_the_configured_url(stand_in, data_dir, tmp_path, monkeypatch):
    from gan_lightning.train import train
    from tests.hydra_utils import compose_config

    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    url, _, _ = stand_in
    weights = tmp_path / "cache" / INCEPTION_WEIGHTS
    cfg = compose_config("train", ["metrics.feature_extractor=inception", f"metrics.inception_weights={weights}",
                                   f"metrics.inception_weights_url={url}"], tmp_path / "run")
    with pytest.raises(InceptionWeightsError, match=re.escape(f"The download from {url} is not {INCEPTION_WEIGHTS}")):
        train(cfg)  # fetched and checked against the real sha256, which a stand-in fails
    assert not weights.exists() and not (tmp_path / "run" / "checkpoints").exists()


def test_bad_arguments():
    with pytest.raises(ValueError, match="feature_extractor must be one of"):
        GenerativeMetrics("vgg")
    with pytest.raises(ValueError, match="subset of"):
        GenerativeMetrics("domain", metrics=["fid", "lpips"], classifier=nn.Identity())
    with pytest.raises(ValueError, match="classifier_path"):
        GenerativeMetrics("domain")


def _ddp_worker(rank: int, world: int, port: int, cache_dir: str, out_dir: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        n = 48
        pool = gaussian(3 * n, np.zeros(3), np.eye(3), 11).float()
        logits = torch.randn(3 * n, 4, generator=torch.Generator().manual_seed(1))
        make = lambda: GenerativeMetrics("inception", features=LookupFeatures(pool, logits), kid_subset_size=8,  # noqa: E731
                                         kid_subsets=5, is_splits=4)
        torch.manual_seed(100 + rank)  # each rank its own global stream, as in training
        protocol = {"extractor": "stand-in", "num_real": n}
        share = torch.arange(n)[rank::world]  # this rank's share of the real reference, fed in batches of 5
        fake = index_images(torch.arange(n, 2 * n)[rank::world])
        results = {}
        for name, directory in (("computed", None), ("cached", cache_dir)):
            metrics = make()
            from_cache = load_or_compute_real(metrics, protocol, directory,
                                              lambda: [index_images(b) for b in share.split(5)])
            metrics.update_fake(fake)
            results[name] = {"from_cache": from_cache, **metrics.compute()}
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_under_ddp_every_rank_computes_the_same_values_and_a_cached_reference_counts_once(tmp_path):
    """Two gloo processes with different global RNG streams: FID, IS (random splits) and KID (random subsets) are
    equal on both ranks, and a reference read from the cache (written by one process) gives the values of one
    computed under DDP, so it is neither counted twice nor reordered."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    n = 48
    single = GenerativeMetrics("inception", features=LookupFeatures(
        gaussian(3 * n, np.zeros(3), np.eye(3), 11).float(),
        torch.randn(3 * n, 4, generator=torch.Generator().manual_seed(1))), kid_subset_size=8, kid_subsets=5)
    assert not load_or_compute_real(single, {"extractor": "stand-in", "num_real": n}, tmp_path / "cache",
                                    lambda: [index_images(torch.arange(n))])  # writes the cache
    torch.multiprocessing.spawn(_ddp_worker, args=(2, port, str(tmp_path / "cache"), str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [(r["computed"]["from_cache"], r["cached"]["from_cache"]) for r in ranks] == [(False, True)] * 2
    for key in ("fid", "is", "is_std", "kid", "kid_std"):
        assert ranks[0]["computed"][key] == ranks[1]["computed"][key], key
        assert ranks[0]["cached"][key] == ranks[1]["cached"][key], key
        assert ranks[0]["cached"][key] == pytest.approx(ranks[0]["computed"][key], rel=1e-6), key
